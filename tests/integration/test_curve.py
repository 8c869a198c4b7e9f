"""CurveZMQ (IPController.enable_curve): our controller and our engines with each other, with
Python's engines, clients and controllers (Debian's 7.1 and the vendored 9.1), and what happens
when one side lacks CurveZMQ or holds the wrong key. Real processes on loopback."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zmq

import ipyparallel as ipp
from ipyparallel import interactive
from ipp_fixtures import running_cluster
from ipp_testcluster import PYTHON, REPO_ROOT, Impl, TestCluster, cpp_binary, scaled, wait_for

VENDOR_91 = REPO_ROOT / "tests" / "vendor" / "ipyparallel-9.1.0"
CURVE = ("--IPController.enable_curve=True",)
Z85 = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

# A 9.1 client in a child interpreter: a direct apply on every engine, a load-balanced map.
CLIENT_91 = """
import json, os, sys
import ipyparallel as ipp
from ipyparallel import interactive
assert ipp.__version__.startswith("9.1"), ipp.__file__
rc = ipp.Client(sys.argv[1], timeout=20)
rc.wait_for_engines(int(sys.argv[2]), timeout=30)
pids = rc[:].apply_sync(os.getpid)
squares = rc.load_balanced_view().map_sync(lambda x: x * x, range(8))
print(json.dumps({"pids": pids, "squares": squares}))
rc.close()
"""


def env_91(base: dict | None = None) -> dict:
    env = dict(base if base is not None else os.environ)
    env["PYTHONPATH"] = str(VENDOR_91)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the vendored tree clean
    return env


def run_client_91(client_file: Path, n_engines: int, env: dict) -> dict:
    r = subprocess.run([PYTHON, "-c", CLIENT_91, str(client_file), str(n_engines)],
                       env=env_91(env), capture_output=True, text=True, timeout=scaled(90))
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def is_z85_key(text) -> bool:
    return isinstance(text, str) and len(text) == 40 and set(text) <= Z85


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def log_of(proc) -> str:
    return proc.log_path.read_text(errors="replace")


def plain_copy(info: dict, tmp: Path, **changes) -> Path:
    """A copy of a connection file without curve_serverkey (or with `changes`)."""
    d = dict(info)
    d.pop("curve_serverkey", None)
    d.update(changes)
    path = tmp / f"altered-{len(list(tmp.glob('altered-*')))}.json"
    path.write_text(json.dumps(d))
    os.chmod(path, 0o600)
    return path


def client_fails(path: Path, timeout: float = 2) -> str:
    try:
        rc = ipp.Client(str(path), timeout=timeout)
    except Exception as e:  # noqa: BLE001 - the point is that it does not connect
        return repr(e)
    rc.close()
    raise AssertionError(f"a client with {path.name} connected")


@pytest.fixture(scope="module")
def curve_cluster():
    """Our controller with CurveZMQ and two of our engines; the fixture's client is Debian's
    7.1, which reads curve_serverkey from the file."""
    with running_cluster(Impl("cpp", "cpp"), 2, "curve", controller_args=CURVE) as c:
        yield c


def test_files_carry_the_server_key_and_no_hmac_key(curve_cluster):
    c = curve_cluster
    client, engine = c.connection_info("client"), c.connection_info("engine")
    assert is_z85_key(client["curve_serverkey"]), client["curve_serverkey"]
    assert engine["curve_serverkey"] == client["curve_serverkey"]
    assert client["key"] == "" and engine["key"] == ""
    keyfile = c.security_dir / "ipcontroller-curve.json"
    kept = json.loads(keyfile.read_text())
    assert kept["curve_publickey"] == client["curve_serverkey"]
    for f in (c.client_file, c.engine_file, keyfile):
        assert private(f), f
    assert "Using CurveZMQ security" in log_of(c.engines[0])


def test_91_and_71_clients_with_our_engines(curve_cluster):
    c = curve_cluster
    rc = c.clients[0]  # 7.1, over CurveZMQ
    assert rc._query_socket.get(zmq.MECHANISM) == zmq.CURVE
    assert sorted(rc[:].apply_sync(os.getpid)) == sorted(p.pid for p in c.engines)
    out = run_client_91(c.client_file, 2, c.env)
    assert sorted(out["pids"]) == sorted(p.pid for p in c.engines)
    assert out["squares"] == [x * x for x in range(8)]
    # resubmit goes through the hub's own CurveZMQ connection to the task port
    ar = rc.load_balanced_view().apply_async(interactive(lambda: 5))
    assert ar.get(timeout=scaled(20)) == 5
    again = rc.resubmit(ar.msg_ids)
    assert again.get(timeout=scaled(20)) in (5, [5])


def test_traffic_is_encrypted(curve_cluster, tmp_path):
    """A TCP relay in front of the registration port sees no message text."""
    c = curve_cluster
    info = c.connection_info("client")
    seen = bytearray()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def relay():
        conn, _ = lsock.accept()
        up = socket.create_connection(("127.0.0.1", info["registration"]))

        def pump(a, b, record):
            try:
                while data := a.recv(65536):
                    if record:
                        seen.extend(data)
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(up, conn, True), daemon=True).start()
        pump(conn, up, True)

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    via = dict(info, registration=lsock.getsockname()[1])
    path = tmp_path / "via-relay.json"
    path.write_text(json.dumps(via))
    rc = ipp.Client(str(path), timeout=scaled(10))
    assert len(rc.ids) == 2  # the connection reply came through the relay
    rc.close()
    lsock.close()
    assert len(seen) > 200
    for text in (b"connection_request", b"connection_reply", b"msg_id", b"engines"):
        assert text not in seen, text


def test_plain_and_wrong_key_peers_get_nothing_through(curve_cluster, tmp_path):
    c = curve_cluster
    info = c.connection_info("client")
    # a client without CurveZMQ (ipyparallel before 7, or a file without curve_serverkey)
    client_fails(plain_copy(info, tmp_path))
    # which side notices the mismatch first varies: the controller sees either the mismatch or
    # the peer closing the connection mid-handshake
    signs = ("without CurveZMQ", "closed the connection during the CurveZMQ handshake")

    def warning():
        return next((l for l in log_of(c.controller).splitlines()
                     if "WARNING" in l and any(s in l for s in signs)), None)

    line = wait_for(warning, 10, message="the controller's warning about a peer without CurveZMQ")
    # the client tries its registration, notification and IOPub ports at once
    assert " port (tcp://127.0.0.1:" in line and "Peer " in line, line
    # a client with another server key
    other = zmq.curve_keypair()[0].decode()
    client_fails(plain_copy(info, tmp_path, curve_serverkey=other))
    wait_for(lambda: "is not this controller's public key" in log_of(c.controller), 10,
             message="the controller's warning about a wrong server key")
    # the cluster still works
    assert c.clients[0][:].apply_sync(interactive(lambda: 7)) == [7, 7]


def test_our_plain_engine_against_curve_controller_exits(curve_cluster, tmp_path):
    path = plain_copy(curve_cluster.connection_info("engine"), tmp_path)
    r = subprocess.run([str(cpp_binary("ipengine")), f"--file={path}", "--timeout=20"],
                       env=curve_cluster.env, capture_output=True, text=True,
                       timeout=scaled(15), cwd=tmp_path)
    assert r.returncode != 0
    assert "Cannot connect to the controller at tcp://127.0.0.1:" in r.stderr, r.stderr
    assert "curve_serverkey" in r.stderr, r.stderr


def test_secret_keys_are_in_no_log(curve_cluster):
    c = curve_cluster
    c.clients[0][:].apply_sync(interactive(lambda: None))
    secret = json.loads((c.security_dir / "ipcontroller-curve.json").read_text())["curve_secretkey"]
    assert "client::client" in log_of(c.controller)  # DEBUG is on
    for p in [c.controller, *c.engines]:
        assert secret not in log_of(p), p.role


def test_our_curve_engine_against_plain_controller_exits(tmp_path):
    with running_cluster(Impl("cpp", "cpp"), 0, "curve-plain", connect=False) as c:
        info = c.connection_info("engine")
        assert info["curve_serverkey"] is None and info["key"]
        path = plain_copy(info, tmp_path, curve_serverkey=zmq.curve_keypair()[0].decode())
        t0 = time.monotonic()
        r = subprocess.run([str(cpp_binary("ipengine")), f"--file={path}", "--timeout=20"],
                           env=c.env, capture_output=True, text=True, timeout=scaled(15),
                           cwd=tmp_path)
        assert r.returncode != 0
        assert time.monotonic() - t0 < 10  # not the registration timeout
        assert f"the controller at tcp://127.0.0.1:{info['registration']}" in r.stderr, r.stderr
        assert "does not use CurveZMQ" in r.stderr, r.stderr
        # a WARNING when the controller noticed the mismatch, DEBUG when the engine closed first
        wait_for(lambda: any(s in log_of(c.controller) for s in
                             ("tried CurveZMQ", "closed the connection during the handshake")),
                 10, message="the controller's note about a CurveZMQ peer")


def test_python_engines_with_our_curve_controller(tmp_path):
    """Debian's 7.1 engine and the 9.1 engine read curve_serverkey from the engine file."""
    with running_cluster(Impl("cpp", "python"), 1, "curve-pyeng", controller_args=CURVE) as c:
        argv = [PYTHON, "-m", "ipyparallel.engine", f"--profile-dir={c.profile_dir}"]
        saved = c.env
        c.env = env_91(saved)
        try:
            c.engines.append(c._spawn("engine-91-python", "python", argv))
        finally:
            c.env = saved
        rc = c.clients[0]
        c.wait_for_engines(rc, 2)
        assert sorted(rc[:].apply_sync(os.getpid)) == sorted(p.pid for p in c.engines)
        out = run_client_91(c.client_file, 2, c.env)
        assert out["squares"] == [x * x for x in range(8)]


@pytest.mark.parametrize("version", ["7.1", "9.1"])
def test_our_engines_with_python_curve_controller(version):
    cluster = TestCluster(Impl("python", "cpp"), name=f"curve-py{version}", controller_args=CURVE)
    plain_env = cluster.env
    if version == "9.1":
        cluster.env = env_91(plain_env)  # for the controller only
    try:
        cluster.start_controller()
        cluster.env = plain_env
        info = cluster.connection_info("engine")
        assert is_z85_key(info["curve_serverkey"]) and info["key"] == ""
        cluster.start_engines(2)
        rc = cluster.connect()  # 7.1 in this process
        cluster.wait_for_engines(rc, 2)
        assert sorted(rc[:].apply_sync(os.getpid)) == sorted(p.pid for p in cluster.engines)
        assert rc.load_balanced_view().map_sync(interactive(lambda x: -x), range(6)) == [-x for x in range(6)]
        if version == "9.1":
            out = run_client_91(cluster.client_file, 2, cluster.env)
            assert len(out["pids"]) == 2
    finally:
        _notes, problems = cluster.stop()
        logs = cluster.logs() if problems else ""
        cluster.remove_files()
    assert not problems, f"{problems}\n{logs}"


def test_restart_with_reuse_keeps_the_key_pair(tmp_path):
    """--reuse: the saved key pair serves the files' curve_serverkey again; a configured pair
    ($IPP_ENABLE_CURVE=1 with $IPP_CURVE_SECRETKEY) is used as given and never saved or
    logged."""
    public, secret = (k.decode() for k in zmq.curve_keypair())
    kept = {"curve_secretkey": secret}
    cluster = TestCluster(Impl("cpp", "cpp"), name="curve-reuse",
                          controller_args=CURVE + ("--reuse",))
    try:
        cluster.start_controller()
        first = cluster.connection_info("client")["curve_serverkey"]
        kept = json.loads((cluster.security_dir / "ipcontroller-curve.json").read_text())
        cluster.controller.popen.terminate()
        cluster.controller.popen.wait(scaled(15))
        assert cluster.client_file.exists()  # --reuse keeps the files
        cluster.controller_args = list(CURVE) + ["--reuse"]
        cluster.controller = cluster._spawn("controller-2", "cpp", cluster.controller_argv())
        cluster.start_engines(1)
        rc = cluster.connect()
        cluster.wait_for_engines(rc, 1)
        assert cluster.connection_info("client")["curve_serverkey"] == first
        assert "saved key pair" in log_of(cluster.controller)
        assert kept["curve_secretkey"] not in log_of(cluster.controller)
        rc.shutdown(hub=True, block=True)
        rc.close()
        cluster.clients.clear()
        wait_for(lambda: not cluster.controller.alive(), 15, message="controller exit")

        # a configured pair, from the environment: used as given, never saved
        (cluster.security_dir / "ipcontroller-curve.json").unlink()
        cluster.env.update(IPP_ENABLE_CURVE="1", IPP_CURVE_PUBLICKEY=public,
                           IPP_CURVE_SECRETKEY=secret)
        cluster.controller_args = []
        cluster.controller = None
        cluster.start_controller()
        assert cluster.connection_info("engine")["curve_serverkey"] == public
        rc = cluster.connect()
        assert rc.ids == []
        assert not (cluster.security_dir / "ipcontroller-curve.json").exists()
    finally:
        _notes, problems = cluster.stop()
        logs = "\n".join(f.read_text(errors="replace") for f in cluster.log_dir.glob("*.log"))
        cluster.remove_files()
    assert not problems, problems
    assert secret not in logs and kept["curve_secretkey"] not in logs


def test_kill_9_and_restore_keeps_engines_and_clients(tmp_path):
    """A controller that died is restarted with --restore (as ipcluster does): it serves the
    kept key pair again, so the running engines and the connected client carry on."""
    with running_cluster(Impl("cpp", "cpp"), 2, "curve-restore", controller_args=CURVE) as c:
        rc = c.clients[0]
        pids = sorted(rc[:].apply_sync(os.getpid))
        key = c.connection_info("client")["curve_serverkey"]
        c.controller.popen.kill()
        c.controller.popen.wait(scaled(10))
        c.controller = c._spawn("controller-restored", "cpp", c.controller_argv() + ["--restore"])
        wait_for(lambda: "saved key pair" in log_of(c.controller), 10, message="the restart")
        assert c.connection_info("engine")["curve_serverkey"] == key
        fresh = c.connect()

        def engines_answer():
            # a request that reaches the relay before its engine reconnected is dropped, with
            # CurveZMQ or without: ask again until both engines are back
            try:
                return sorted(fresh[:].apply_async(os.getpid).get(timeout=scaled(2)))
            except ipp.error.TimeoutError:
                return None

        assert wait_for(engines_answer, 30, message="the engines to reconnect") == pids
        assert sorted(rc[:].apply_sync(os.getpid)) == pids  # the client from before the restart


def test_ipcluster_start_with_curve(tmp_path):
    """ipcluster starts a controller whose profile config enables CurveZMQ; the engines it
    starts take curve_serverkey from the engine file, and a 9.1 client gets through."""
    ipython_dir = tmp_path / "ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipcluster_config.py").write_text(
        f"c = get_config()\nc.EngineLauncher.engine_cmd = [{str(cpp_binary('ipengine'))!r}]\n")
    (profile / "ipcontroller_config.py").write_text(
        "c = get_config()\nc.IPController.enable_curve = True\nc.HeartMonitor.period = 500\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IPP_")}
    env["IPYTHONDIR"] = str(ipython_dir)
    ipcluster = str(cpp_binary("ipcluster"))
    r = subprocess.run([ipcluster, "start", "-n", "2", "--daemonize"], env=env,
                       capture_output=True, text=True, timeout=scaled(90))
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        client_file = profile / "security" / "ipcontroller-client.json"
        info = json.loads(client_file.read_text())
        assert is_z85_key(info["curve_serverkey"]) and info["key"] == ""
        out = run_client_91(client_file, 2, env)
        assert len(set(out["pids"])) == 2 and out["squares"] == [x * x for x in range(8)]
        cmdlines = " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                            for pid in out["pids"])
        secret = json.loads((profile / "security" / "ipcontroller-curve.json").read_text())
        assert secret["curve_secretkey"] not in cmdlines
    finally:
        stop = subprocess.run([ipcluster, "stop"], env=env, capture_output=True, text=True,
                              timeout=scaled(60))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    wait_for(lambda: not (profile / "security" / "ipcontroller-client.json").exists(), 20,
             message="the cluster to stop")
