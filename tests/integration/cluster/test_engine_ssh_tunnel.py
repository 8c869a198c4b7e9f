"""Engines that reach the controller only through SSH tunnels, on simulated hosts (network, UTS
and mount namespaces with real sshds: test_seed_topology.Topology).

ippctrl runs our ipcontroller listening on its loopback only, with `--enginessh=root@ippctrl`
(written as "ssh" into ipcontroller-engine.json), and its sshd. ippeng1 and ippeng2 run our
ipengine with a copy of the engine file: ippeng1 takes the ssh server from the file and
authenticates with its default key; ippeng2 gets `--sshserver=root@ippctrl --sshkey=<key>` and
has no default key, so only the given key can work. A Python client on ippctrl (plain loopback)
checks the engines' host names and a load-balanced map. Then the failures: an ssh server whose
host key is unknown (ippgw) and a host without sshd (ippnossh); each engine must exit non-zero
naming the server and the reason. Needs root; everything is torn down, on failure too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import bin_dir, wait_for
from test_seed_topology import Topology, running_topology

PYTHON = "/usr/bin/python3"
PREFIX = f"ipptun{os.getpid() % 10000}"
# Roles only decide who runs sshd ("controller" and "engine" do): the engine hosts of this test
# need none, so they are "client" hosts; ippgw is an sshd the engine hosts do not know.
HOSTS = {
    "ippctrl": (1, "controller"),
    "ippeng1": (2, "client"),
    "ippeng2": (3, "client"),
    "ippgw": (4, "engine"),
    "ippnossh": (5, "client"),
}
KNOWN = {"ippeng1": ["ippctrl"], "ippeng2": ["ippctrl"]}
IPCONTROLLER = str(bin_dir() / "ipcontroller")
IPENGINE = str(bin_dir() / "ipengine")

CLIENT_CHECK = textwrap.dedent(
    """
    import socket, time
    from ipyparallel import Client
    rc = Client("/root/.ipython/profile_default/security/ipcontroller-client.json")
    deadline = time.time() + 30
    while len(rc.ids) < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert rc.ids == [0, 1], rc.ids
    names = sorted(rc[i].apply_sync(socket.gethostname) for i in rc.ids)
    print("HOSTS", names)
    assert names == ["ippeng1", "ippeng2"], names
    lview = rc.load_balanced_view()
    result = lview.map_sync(lambda x: x * x, range(200))
    assert result == [x * x for x in range(200)]
    big = rc[0].apply_sync(lambda n: b"x" * n, 4_000_000)  # more than one ssh window
    assert len(big) == 4_000_000
    rc.shutdown(targets="all", hub=False, block=True)
    print("TUNNEL-OK")
    """
)


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: the simulated hosts are network and mount namespaces")
    yield from running_topology(Path(tmp_path_factory.mktemp("tunnel")),
                                "the engine SSH tunnel test",
                                ("ip", "unshare", "nsenter", "ssh-keygen"),
                                hosts=HOSTS, known=KNOWN, prefix=PREFIX)


def home(t: Topology, host: str) -> Path:
    return t.root / host / "root"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IPYTHON", "IPP_", "SSH_AUTH_SOCK", "SSH_AGENT"))}
    env["HOME"] = "/root"
    return env


@pytest.fixture(scope="module")
def controller(topo):
    """Our ipcontroller on ippctrl's loopback; yields the engine file's contents."""
    t = topo
    log = t.root / "ipcontroller.log"
    proc = t.popen("ippctrl", [IPCONTROLLER, "--ip=127.0.0.1", "--enginessh=root@ippctrl"], log,
                   env=clean_env())
    engine_file = home(t, "ippctrl") / ".ipython/profile_default/security/ipcontroller-engine.json"
    client_file = engine_file.with_name("ipcontroller-client.json")
    wait_for(lambda: client_file.exists() or proc.poll() is not None, 20, what="the controller")
    assert proc.poll() is None, log.read_text()
    info = json.loads(engine_file.read_text())
    for host in ("ippeng1", "ippeng2"):
        shutil.copy(engine_file, home(t, host) / "ipcontroller-engine.json")
    yield info
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)


def test_engines_register_and_run_through_tunnels(topo, controller):
    t = topo
    assert controller["ssh"] == "root@ippctrl"
    assert controller["interface"] == "tcp://127.0.0.1"

    # ippeng2 authenticates only with the key given by --sshkey
    key = home(t, "ippeng2") / "tunnel_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with open(home(t, "ippctrl") / ".ssh" / "authorized_keys", "a") as f:
        f.write((home(t, "ippeng2") / "tunnel_key.pub").read_text())
    for name in ("id_ed25519", "id_ed25519.pub"):
        (home(t, "ippeng2") / ".ssh" / name).unlink()

    env = clean_env()
    logs = {h: t.root / f"{h}-engine.log" for h in ("ippeng1", "ippeng2")}
    engines = {
        "ippeng1": t.popen("ippeng1", [IPENGINE, "--file=/root/ipcontroller-engine.json"],
                           logs["ippeng1"], env=env),
        "ippeng2": t.popen("ippeng2", [IPENGINE, "--file=/root/ipcontroller-engine.json",
                                       "--sshserver=root@ippctrl", "--sshkey=/root/tunnel_key"],
                           logs["ippeng2"], env=env),
    }
    try:
        (home(t, "ippctrl") / "check.py").write_text(CLIENT_CHECK)
        r = t.sh("ippctrl", f"cd /root && {PYTHON} check.py", check=False, timeout=120, env=env)
        engine_logs = {h: p.read_text() for h, p in logs.items()}
        assert r.returncode == 0 and "TUNNEL-OK" in r.stdout, (r.stdout, r.stderr, engine_logs)
        for host, proc in engines.items():
            assert proc.wait(timeout=20) == 0, logs[host].read_text()
            text = logs[host].read_text()
            assert "Tunneling connections to the controller through root@ippctrl" in text, text
            assert "Connecting shell to tcp://127.0.0.1:" in text, text
    finally:
        for proc in engines.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("host, server, reason", [
    ("ippeng1", "root@ippgw", "host key verification failed: the host is not in ~/.ssh/known_hosts"),
    ("ippeng2", "root@ippgw", "host key verification failed: the host key CHANGED"),
    ("ippeng1", "root@ippnossh", "cannot connect: Connection refused"),
])
def test_an_unusable_ssh_server_stops_the_engine(topo, controller, host, server, reason):
    t = topo
    if "CHANGED" in reason:
        # ippeng2 has a key on record for ippgw, but not the one ippgw shows: ippctrl's
        ctrl_key = (t.root / "ippctrl" / "ssh_host_ed25519_key.pub").read_text().split()
        with open(home(t, host) / ".ssh" / "known_hosts", "a") as f:
            f.write(f"ippgw {ctrl_key[0]} {ctrl_key[1]}\n")
    r = t.sh(host, f"{IPENGINE} --file=/root/ipcontroller-engine.json --ssh={server}",
             check=False, timeout=60, env=clean_env())
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"Cannot tunnel through the ssh server {server}: {reason}" in out, out


def test_a_closed_controller_port_is_logged_and_registration_times_out(topo, controller):
    t = topo
    info = dict(controller, registration=1)  # nothing listens on ippctrl's port 1
    (home(t, "ippeng1") / "closed-engine.json").write_text(json.dumps(info))
    r = t.sh("ippeng1", f"{IPENGINE} --file=/root/closed-engine.json --timeout=3",
             check=False, timeout=60, env=clean_env())
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    refused = [line for line in out.splitlines()
               if "cannot forward a connection to 127.0.0.1:1 through root@ippctrl" in line]
    # zmq redials every 100 ms or so; the warning comes at most every 5 s
    assert 1 <= len(refused) <= 2, out
    assert "Registration timed out" in out and "SSH tunnel via root@ippctrl" in out, out


def descendants(pid: int) -> list[int]:
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        out += [int(child)] + descendants(int(child))
    return out


def test_a_lost_ssh_session_stops_the_engine(topo, controller):
    t = topo
    log = t.root / "lost-engine.log"
    engine = t.popen("ippeng1", [IPENGINE, "--file=/root/ipcontroller-engine.json"], log,
                     env=clean_env())
    try:
        wait_for(lambda: "Completed registration with id" in log.read_text()
                 or engine.poll() is not None, 30, what="the engine to register")
        # Every process serving an ssh session on ippctrl: the descendants of its sshd.
        prefix = t.nsenter("ippctrl")
        sshd = next(p for p in t.daemons
                    if p.args[:len(prefix)] == prefix and "/usr/sbin/sshd" in p.args)
        sessions = descendants(sshd.pid)
        assert sessions, "no ssh session on ippctrl"
        for pid in sessions:
            os.kill(pid, signal.SIGKILL)
        assert engine.wait(timeout=20) == 1, log.read_text()
        text = log.read_text()
        assert "SSH tunnel through root@ippctrl lost: Socket error" in text, text
    finally:
        if engine.poll() is None:
            os.killpg(engine.pid, signal.SIGKILL)
