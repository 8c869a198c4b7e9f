"""The SSH controller launcher, the SSH proxy engine launcher, `ipcluster list` on remote
processes and host-key checking, on simulated hosts (network, UTS and mount namespaces with real
sshds, as in test_seed_topology.py).

Hosts: ippclient runs ipcluster (its known_hosts lists ippctrl and ippeng1 only), ippctrl is the
controller host, ippeng1 and ippeng2 are engine hosts; ippeng2's key is unknown to the client.
One topology serves the whole module; every test removes what it started and checks that no
process is left on any host. Needs root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import bin_dir, engine_cmd, wait_for
from test_seed_topology import Topology, process_names, run, running_topology

PYTHON = "/usr/bin/python3"
PREFIX = f"ippssh{os.getpid() % 10000}"
HOSTS = {
    "ippctrl": (1, "controller"),
    "ippeng1": (2, "engine"),
    "ippeng2": (3, "engine"),
    "ippclient": (4, "client"),
}
KNOWN = {"ippclient": ["ippctrl", "ippeng1"]}
IPCLUSTER = str(bin_dir() / "ipcluster")
IPCONTROLLER = str(bin_dir() / "ipcontroller")


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    yield from running_topology(Path(tmp_path_factory.mktemp("sshl")), "the SSH launcher tests",
                                ("ip", "unshare", "nsenter", "ssh-keygen"),
                                hosts=HOSTS, known=KNOWN, prefix=PREFIX)


def home(t: Topology, host: str) -> Path:
    return t.root / host / "root"


def leftovers(t: Topology) -> dict[str, list[str]]:
    """Processes on any host other than the namespace holders and the sshds."""
    keep = {p.pid for p in t.daemons if p.poll() is None}
    out = {}
    for host in HOSTS:
        pids = t.pids_in(host) - {t.holder_pid(host)} - keep
        names = [n for n in process_names(pids) if "sshd" not in n]
        if names:
            out[host] = names
    return out


@pytest.fixture
def hosts(topo):
    """The topology, checked clean before the test and cleaned (killed, profiles removed) after."""
    # what the previous test's cleanup killed may take a moment to be reaped
    deadline = time.monotonic() + 10
    while leftovers(topo) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = leftovers(topo)
    assert not left, left
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPYTHON", "IPP_"))}
    env["HOME"] = "/root"
    topo.env = env
    yield topo
    keep = {p.pid for p in topo.daemons if p.poll() is None}
    for host in HOSTS:
        for pid in topo.pids_in(host) - {topo.holder_pid(host)} - keep:
            if any("sshd" in n for n in process_names({pid})):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(home(topo, host) / ".ipython", ignore_errors=True)


def client_profile(t: Topology, name: str, config: str) -> Path:
    p = home(t, "ippclient") / ".ipython" / f"profile_{name}"
    p.mkdir(parents=True)
    (p / "ipcluster_config.py").write_text("c = get_config()\n" + textwrap.dedent(config))
    (p / "ipcontroller_config.py").write_text("c = get_config()\nc.HeartMonitor.period = 500\n")
    return p


def ipcluster(t: Topology, args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return t.sh("ippclient", f"{IPCLUSTER} {args}", check=False, timeout=timeout, env=t.env)


def client_check(t: Topology, client_file: Path, n: int, code: str) -> str:
    script = textwrap.dedent(f"""
        import ipyparallel as ipp, socket
        rc = ipp.Client({str(client_file)!r})
        rc.wait_for_engines({n}, timeout=60)
        assert rc.ids == list(range({n})), rc.ids
        squares = rc[:].map_sync(lambda x: x * x, range(20))
        assert squares == [x * x for x in range(20)], squares
        hosts = rc[:].apply_sync(socket.gethostname)
        print("HOSTS", sorted(hosts))
        """) + textwrap.dedent(code) + "\nprint('CHECK-OK')\n"
    r = t.sh("ippclient", f"{PYTHON} -c {sh_quote(script)}", check=False, timeout=120,
             env=t.env)
    assert r.returncode == 0 and "CHECK-OK" in r.stdout, (r.stdout, r.stderr)
    return r.stdout


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def list_row(t: Topology, profile: str) -> list[str]:
    r = ipcluster(t, f"list --profile={profile}")
    assert r.returncode == 0, (r.stdout, r.stderr)
    rows = [line.split() for line in r.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1, r.stdout
    return rows[0]


def kill_owner(t: Topology, prof: Path):
    """SIGKILL the daemonized ipcluster, so that `ipcluster stop` has to stop what the cluster
    file records by itself (remote pids over SSH)."""
    pid = int((prof / "pid" / "ipcluster.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, what="ipcluster to exit")


# The Python controller run is also stopped without its ipcluster (killed): `ipcluster stop`
# then stops the remote controller from the cluster file.
@pytest.mark.parametrize("controller", ["cpp", "python"])
def test_controller_over_ssh(hosts, controller):
    t = hosts
    cmd = [IPCONTROLLER] if controller == "cpp" else [PYTHON, "-m", "ipyparallel.controller"]
    prof = client_profile(t, "sshctl", f"""
        c.Cluster.controller_launcher_class = 'ssh'
        c.SSHControllerLauncher.hostname = 'ippctrl'
        c.SSHControllerLauncher.controller_cmd = {cmd!r}
        c.SSHControllerLauncher.controller_args = ['--ip=*']
        c.EngineLauncher.engine_cmd = {engine_cmd()!r}
        """)
    r = ipcluster(t, "start --profile=sshctl -n 2 --daemonize")
    assert r.returncode == 0, (r.stdout, r.stderr)
    try:
        cluster = json.loads((prof / "security" / "cluster-.json").read_text())
        ctl = cluster["controller"]
        assert ctl["class"] == "ssh"
        assert ctl["state"]["hostname"] == "ippctrl"
        assert ctl["state"]["remote_profile_dir"] == ".ipython/profile_sshctl"
        remote_pid = ctl["state"]["pid"]
        assert remote_pid in t.pids_in("ippctrl"), remote_pid
        # Fetched over SFTP: private copies of what the controller wrote on its own host.
        remote_sec = home(t, "ippctrl") / ".ipython" / "profile_sshctl" / "security"
        for name in ("ipcontroller-client.json", "ipcontroller-engine.json"):
            local = prof / "security" / name
            assert local.read_text() == (remote_sec / name).read_text()
            assert oct(local.stat().st_mode & 0o777) == "0o600"
        assert json.loads((prof / "security" / "ipcontroller-client.json").read_text())[
            "location"] == "ippctrl"
        out = client_check(t, prof / "security" / "ipcontroller-client.json", 2,
                           "assert sorted(hosts) == ['ippclient', 'ippclient'], hosts")
        assert "HOSTS ['ippclient', 'ippclient']" in out
        row = list_row(t, "sshctl")
        assert row[1:] == ["''", "True", "2", "Local"], row

        if controller == "python":
            kill_owner(t, prof)
            assert remote_pid in t.pids_in("ippctrl")
        stop = ipcluster(t, "stop --profile=sshctl")
        assert stop.returncode == 0, (stop.stdout, stop.stderr)
    finally:
        ipcluster(t, "stop --profile=sshctl")
    wait_for(lambda: not leftovers(t), 30, 0.5, what="no processes left on any host")
    assert not (prof / "security" / "cluster-.json").exists()
    assert not (prof / "security" / "ipcontroller-client.json").exists()
    # The controller removed its own files on TERM.
    assert not (remote_sec / "ipcontroller-client.json").exists()


def test_remote_controller_failure_names_host_and_log(hosts):
    t = hosts
    client_profile(t, "sshfail", """
        c.Cluster.controller_launcher_class = 'SSHControllerLauncher'
        c.SSHControllerLauncher.location = 'root@ippctrl'
        c.SSHControllerLauncher.controller_cmd = ['/bin/sh', '-c', 'echo boom-marker-42 >&2; exit 3']
        """)
    started = time.monotonic()
    r = ipcluster(t, "start --profile=sshfail -n 1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert time.monotonic() - started < 30
    err = r.stderr
    assert "root@ippctrl" in err and "exited before it was ready" in err, err
    assert "boom-marker-42" in err, err
    assert not leftovers(t)


@pytest.mark.parametrize("stop_via", ["ipcluster", "cluster-file"])
def test_proxy_engines(hosts, stop_via):
    t = hosts
    prof = client_profile(t, "proxy", f"""
        c.Cluster.engine_launcher_class = 'sshproxy'
        c.Cluster.controller_ip = '*'
        c.SSHProxyEngineSetLauncher.hostname = 'ippeng1'
        c.SSHProxyEngineSetLauncher.ipcluster_cmd = [{IPCLUSTER!r}]
        c.EngineLauncher.engine_cmd = {engine_cmd()!r}
        """)
    # The remote `ipcluster engines` reads the engine host's own profile, as in Python.
    remote_prof = home(t, "ippeng1") / ".ipython" / "profile_proxy"
    remote_prof.mkdir(parents=True)
    (remote_prof / "ipcluster_config.py").write_text(
        f"c.EngineLauncher.engine_cmd = {engine_cmd()!r}\n")
    r = ipcluster(t, "start --profile=proxy -n 2 --daemonize")
    assert r.returncode == 0, (r.stdout, r.stderr)
    try:
        cluster = json.loads((prof / "security" / "cluster-.json").read_text())
        assert cluster["engines"]["class"] == "sshproxy"
        (set_state,) = cluster["engines"]["sets"].values()
        assert set_state["hostname"] == "ippeng1" and set_state["n"] == 2
        assert "engines" not in set_state
        assert set_state["pid"] in t.pids_in("ippeng1")
        sent = remote_prof / "security" / "ipcontroller-engine.json"
        assert sent.read_text() == (prof / "security" / "ipcontroller-engine.json").read_text()
        assert oct(sent.stat().st_mode & 0o777) == "0o600"
        client_check(t, prof / "security" / "ipcontroller-client.json", 2,
                     "assert sorted(hosts) == ['ippeng1', 'ippeng1'], hosts")
        row = list_row(t, "proxy")
        assert row[1:] == ["''", "True", "2", "SSHProxy"], row

        if stop_via == "cluster-file":
            kill_owner(t, prof)
            assert set_state["pid"] in t.pids_in("ippeng1")
        stop = ipcluster(t, "stop --profile=proxy")
        assert stop.returncode == 0, (stop.stdout, stop.stderr)
    finally:
        ipcluster(t, "stop --profile=proxy")
    wait_for(lambda: not leftovers(t), 30, 0.5, what="no processes left on any host")
    assert not (prof / "security" / "cluster-.json").exists()


def test_list_probes_remote_pids(hosts):
    t = hosts
    prof = home(t, "ippclient") / ".ipython" / "profile_probe"
    (prof / "security").mkdir(parents=True)
    dead = subprocess.run(t.nsenter("ippctrl") + ["sh", "-c", "echo $$"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen(t.nsenter("ippctrl") + ["sleep", "120"])
    try:
        def state(host, pid, port=None):
            return {"cluster_id": "", "profile_dir": str(prof), "state": "running", "pid": pid,
                    "n": 1, "output_file": "/dev/null", "hostname": host, "user": "root",
                    "remote_output_file": "", "remote_profile_dir": ".ipython/profile_probe",
                    "remote_python": "python3", "ssh_cmd": ["ssh"],
                    "ssh_args": ["-p", str(port)] if port else [], "scp_cmd": ["scp"],
                    "scp_args": []}
        record = {
            "cluster": {"cluster_id": "", "controller_args": [], "controller_ip": "",
                        "controller_location": "", "delay": 1.0, "n": 2,
                        "profile_dir": str(prof), "class": "ipyparallel.cluster.cluster.Cluster"},
            "controller": {"class": "ssh", "state": state("ippctrl", dead_pid)},
            "engines": {"class": "ssh", "sets": {"1": {
                "cluster_id": "", "profile_dir": str(prof), "state": "running", "pid": -1,
                "n": 2, "engines": {
                    "ippctrl/0": state("ippctrl", live.pid),
                    # nothing listens on port 2299: unreachable
                    "ippeng1:2299/0": state("ippeng1", 4242, port=2299)}}}},
        }
        cfile = prof / "security" / "cluster-.json"
        cfile.write_text(json.dumps(record))
        r = ipcluster(t, "list --profile=probe", timeout=60)
        assert r.returncode == 0, (r.stdout, r.stderr)
        row = r.stdout.splitlines()[1].split()
        assert row[1:] == ["''", "False", "1+1?", "SSH"], r.stdout
        assert "ippeng1:2299" in r.stderr and "unknown" in r.stderr, r.stderr
        assert cfile.exists()

        live.kill()
        live.wait()
        row = list_row(t, "probe")
        assert row[1:] == ["''", "False", "0+1?", "SSH"], row
        assert cfile.exists()  # an unknown engine may still run: the file stays
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()


def test_unknown_host_key_needs_explicit_opt_out(hosts):
    t = hosts
    known_hosts = home(t, "ippclient") / ".ssh" / "known_hosts"
    before = known_hosts.read_text()
    assert "ippeng2" not in before
    config = f"""
        c.Cluster.engine_launcher_class = 'ssh'
        c.Cluster.controller_ip = '*'
        c.SSHEngineSetLauncher.engines = {{'ippeng2': 1}}
        c.SSHLauncher.remote_engine_cmd = {engine_cmd()!r}
        """
    prof = client_profile(t, "hostkey", config)
    r = ipcluster(t, "start --profile=hostkey --daemonize")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ippeng2" in r.stderr and "not in ~/.ssh/known_hosts" in r.stderr, r.stderr
    wait_for(lambda: not leftovers(t), 30, 0.5, what="no processes left after the refusal")
    assert not (prof / "security" / "cluster-.json").exists()

    (prof / "ipcluster_config.py").write_text(
        "c = get_config()\n" + textwrap.dedent(config)
        + "c.SSHLauncher.strict_host_key_checking = False\n")
    r = ipcluster(t, "start --profile=hostkey --daemonize")
    try:
        assert r.returncode == 0, (r.stdout, r.stderr)
        cluster = json.loads((prof / "security" / "cluster-.json").read_text())
        (set_state,) = cluster["engines"]["sets"].values()
        (engine,) = set_state["engines"].values()
        assert engine["hostname"] == "ippeng2"
        assert engine["pid"] in t.pids_in("ippeng2")
        # Accepted for this connection only; known_hosts is not written.
        assert known_hosts.read_text() == before
    finally:
        stop = ipcluster(t, "stop --profile=hostkey")
    assert stop.returncode == 0, (stop.stdout, stop.stderr)
    wait_for(lambda: not leftovers(t), 30, 0.5, what="no processes left on any host")


def test_ssh_engine_restarts_on_the_same_host(hosts):
    """c.Cluster.engine_restart_limit with SSH engines: a killed remote engine is replaced on its
    host, a new engine registers, and `ipcluster stop` leaves nothing behind."""
    t = hosts
    ours = str(bin_dir() / "ipengine")
    prof = client_profile(t, "sshrestart", f"""
        c.Cluster.engine_launcher_class = 'ssh'
        c.Cluster.controller_ip = '*'
        c.SSHEngineSetLauncher.engines = {{'ippeng1': 2}}
        c.SSHEngineSetLauncher.remote_engine_cmd = [{ours!r}]
        c.Cluster.engine_restart_limit = 3
        c.Cluster.engine_restart_delay = 0.2
        """)
    r = ipcluster(t, "start --profile=sshrestart --daemonize")
    assert r.returncode == 0, (r.stdout, r.stderr)
    client_file = prof / "security" / "ipcontroller-client.json"
    log = lambda: "".join(p.read_text(errors="replace") for p in (prof / "log").glob("ipcluster-*.log"))
    try:
        client_check(t, client_file, 2, "assert sorted(hosts) == ['ippeng1', 'ippeng1'], hosts")
        cluster = json.loads((prof / "security" / "cluster-.json").read_text())
        (set_state,) = cluster["engines"]["sets"].values()
        victim = set_state["engines"]["ippeng1/0"]["pid"]
        assert victim in t.pids_in("ippeng1")
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: "Started engine ippeng1/2 (remote pid" in log(), 60, 0.5,
                 what="the replacement engine on ippeng1")
        assert "engine ippeng1/0 (remote pid" in log() and "Restarting an engine of set" in log()
        script = textwrap.dedent(f"""
            import ipyparallel as ipp, socket, time
            rc = ipp.Client({str(client_file)!r})
            deadline = time.monotonic() + 60
            while not (len(rc.ids) == 2 and max(rc.ids) >= 2) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(rc.ids) == 2 and 2 in rc.ids, rc.ids
            assert rc[:].apply_sync(socket.gethostname) == ['ippeng1', 'ippeng1']
            print('CHECK-OK')
            """)
        out = t.sh("ippclient", f"{PYTHON} -c {sh_quote(script)}", check=False, timeout=120,
                   env=t.env)
        assert out.returncode == 0 and "CHECK-OK" in out.stdout, (out.stdout, out.stderr, log())
        cluster = json.loads((prof / "security" / "cluster-.json").read_text())
        (set_state,) = cluster["engines"]["sets"].values()
        assert sorted(set_state["engines"]) == ["ippeng1/1", "ippeng1/2"]
        stop = ipcluster(t, "stop --profile=sshrestart")
        assert stop.returncode == 0, (stop.stdout, stop.stderr)
    finally:
        ipcluster(t, "stop --profile=sshrestart")
    wait_for(lambda: not leftovers(t), 30, 0.5, what="no processes left on any host")
    assert log().count("Started engine ippeng1/") == 1
