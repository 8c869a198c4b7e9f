"""Our ipcontroller's configuration and start-up behaviour (C++ controller only).

The seed walkthrough's ipcontroller_config.py lines (`c.IPControllerApp.reuse_files = True`,
`c.RegistrationFactory.ip = u'*'`) must work as written, which Python ipyparallel 7+ does not
do; start-up failures must name their culprit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from ipp_testcluster import (PYTHON, cpp_binary, cpp_binary_available, scaled,
                             terminate_and_wait, wait_for)

pytestmark = pytest.mark.skipif(
    not cpp_binary_available("ipcontroller"), reason="C++ ipcontroller not built"
)


@pytest.fixture
def ipython_dir():
    with tempfile.TemporaryDirectory(prefix="ipp-ctl-") as d:
        yield Path(d)


def start_controller(ipython_dir: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, IPYTHONDIR=str(ipython_dir))
    env.pop("IPP_PROFILE_DIR", None)
    log = open(ipython_dir / f"ctl-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(
        [str(cpp_binary("ipcontroller")), "--ping=500", "--log-level=10", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(proc: subprocess.Popen):
    terminate_and_wait(proc, 10)


def write_profile_file(ipython_dir: Path, name: str, text: str) -> Path:
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True, exist_ok=True)
    path = profile / name
    path.write_text(text)
    return path


def client_file(ipython_dir: Path) -> Path:
    return ipython_dir / "profile_default" / "security" / "ipcontroller-client.json"


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_seed_controller_config_listens_everywhere_and_reuses_files(ipython_dir):
    write_profile_file(
        ipython_dir,
        "ipcontroller_config.py",
        "c = get_config()\n"
        "c.IPControllerApp.reuse_files = True\n"
        "c.RegistrationFactory.ip = u'*'\n",
    )
    proc = start_controller(ipython_dir)
    try:
        path = wait_for(lambda: client_file(ipython_dir).exists() and client_file(ipython_dir),
                        20, message="connection file")
        info = json.loads(path.read_text())
        assert info["interface"] == "tcp://*"
        assert info["location"] == socket.gethostname()
        # Bound on every interface: reachable on another loopback address, not just 127.0.0.1.
        assert connects("127.0.0.2", info["registration"])
        # An unmodified Python client connects through the file.
        out = subprocess.run(
            [PYTHON, "-c",
             "import ipyparallel as ipp, sys\n"
             f"rc = ipp.Client(r'{path}', timeout=10)\n"
             "print('ids', rc.ids)\n"
             "rc.close()\n"],
            capture_output=True, text=True, timeout=scaled(60),
        )
        assert out.returncode == 0, out.stderr
        assert "ids []" in out.stdout
    finally:
        stop(proc)
    # reuse_files: the files stay, and a restart keeps key and ports.
    assert client_file(ipython_dir).exists()
    first = json.loads(client_file(ipython_dir).read_text())
    proc = start_controller(ipython_dir)
    try:
        wait_for(lambda: connects("127.0.0.1", first["registration"]), 20,
                 message="restarted controller")
        again = json.loads(client_file(ipython_dir).read_text())
        assert again["key"] == first["key"]
        assert again["registration"] == first["registration"]
        assert again["mux"] == first["mux"]
    finally:
        stop(proc)


def test_port_in_use_is_named(ipython_dir):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        proc = start_controller(ipython_dir, f"--ports={port}")
        rc = proc.wait(scaled(20))
        log = b"".join(p.read_bytes() for p in ipython_dir.glob("ctl-*.log")).decode()
        assert rc == 1
        assert str(port) in log
        assert "cannot bind" in log
        assert not client_file(ipython_dir).exists()
    finally:
        blocker.close()


def test_broken_config_file_names_file_and_line(ipython_dir):
    path = write_profile_file(
        ipython_dir,
        "ipcontroller_config.py",
        "c = get_config()\n"
        "c.IPController.ip = '127.0.0.1'\n"
        "c.IPController.location = (\n",
    )
    proc = start_controller(ipython_dir)
    rc = proc.wait(scaled(30))
    log = b"".join(p.read_bytes() for p in ipython_dir.glob("ctl-*.log")).decode()
    assert rc == 1
    assert str(path) in log or "ipcontroller_config.py" in log
    assert "3" in log  # the line of the unterminated expression
    assert not client_file(ipython_dir).exists()


def test_sigterm_removes_connection_files(ipython_dir):
    proc = start_controller(ipython_dir)
    try:
        wait_for(lambda: client_file(ipython_dir).exists(), 20, message="connection file")
        mode = client_file(ipython_dir).stat().st_mode & 0o777
        assert mode == 0o600
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert not client_file(ipython_dir).exists()


def test_restore_keeps_running_engines(ipython_dir):
    """--restore: engines that outlive a controller restart keep their ids and keep working."""
    proc = start_controller(ipython_dir, "--reuse")
    env = dict(os.environ, IPYTHONDIR=str(ipython_dir))
    engine_log = open(ipython_dir / "engine.log", "wb")
    engine = subprocess.Popen([PYTHON, "-m", "ipyparallel.engine", "--log-level=20"],
                              env=env, stdout=engine_log, stderr=subprocess.STDOUT)
    check = (
        "import ipyparallel as ipp, os\n"
        "rc = ipp.Client(timeout=30)\n"
        "rc.wait_for_engines(1, timeout=60)\n"
        "print('ids', rc.ids, 'pid', rc[rc.ids[0]].apply_sync(os.getpid))\n"
        "rc.close()\n"
    )
    try:
        wait_for(lambda: client_file(ipython_dir).exists(), 20, message="connection file")
        first = subprocess.run([PYTHON, "-c", check], env=env, capture_output=True, text=True,
                               timeout=scaled(90))
        assert first.returncode == 0, first.stderr
        assert f"ids [0] pid {engine.pid}" in first.stdout
        state = json.loads((ipython_dir / "profile_default" / "log" / "engines.json").read_text())
        assert list(state["engines"]) == ["0"] and state["next_id"] == 1
        stop(proc)
        assert engine.poll() is None  # the engine outlives its controller
        proc = start_controller(ipython_dir, "--restore")
        port = json.loads(client_file(ipython_dir).read_text())["registration"]
        wait_for(lambda: connects("127.0.0.1", port), 30, message="restarted controller")
        again = subprocess.run([PYTHON, "-c", check], env=env, capture_output=True, text=True,
                               timeout=scaled(90))
        assert again.returncode == 0, again.stderr
        assert f"ids [0] pid {engine.pid}" in again.stdout
    finally:
        terminate_and_wait(engine, 15)
        stop(proc)


def test_late_subscriber_hears_recent_registrations(ipython_dir):
    """A client's notification subscription can reach the hub after its connection_reply; the
    engines that registered in between must still be announced to it, or the client's
    wait_for_engines never returns. Every new subscriber is sent the recent registrations."""
    import zmq

    proc = start_controller(ipython_dir)
    env = dict(os.environ, IPYTHONDIR=str(ipython_dir))
    engine = subprocess.Popen([str(cpp_binary("ipengine")), "--log-level=20"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    ctx = zmq.Context()
    try:
        wait_for(lambda: client_file(ipython_dir).exists(), 20, message="connection file")
        info = json.loads(client_file(ipython_dir).read_text())
        check = (
            "import ipyparallel as ipp\n"
            "rc = ipp.Client(timeout=30)\n"
            "rc.wait_for_engines(1, timeout=60)\n"
            "print('ids', rc.ids)\n"
        )
        done = subprocess.run([PYTHON, "-c", check], env=env, capture_output=True, text=True,
                              timeout=scaled(90))
        assert "ids [0]" in done.stdout, done.stderr
        # The engine is registered now; a subscriber arriving after the fact still hears of it.
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{info['notification']}")
        assert sub.poll(int(scaled(10) * 1000)), "no notification replayed to a new subscriber"
        frames = sub.recv_multipart()
        idx = frames.index(b"<IDS|MSG>")
        header = json.loads(frames[idx + 2])
        content = json.loads(frames[idx + 5])
        assert header["msg_type"] == "registration_notification"
        assert content["id"] == 0 and isinstance(content["uuid"], str)
        sub.close()
    finally:
        ctx.term()
        terminate_and_wait(engine, 15)
        stop(proc)
