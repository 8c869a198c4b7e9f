"""ipcluster start/stop/list/clean/profile against Python clients and Python's own tools."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from conftest import ipcluster_bin, processes_under, wait_for

CLIENT_TASK = """
import ipyparallel as ipp, sys
rc = ipp.Client(sys.argv[1] if len(sys.argv) > 1 else {url!r}, timeout=30)
rc.wait_for_engines({n}, timeout=60)
print(sorted(rc.ids))
print(rc[:].apply_sync(lambda x: x * 2, 21))
rc.close()
"""


def start_daemon(env, *args, n=2, profile="default"):
    env.write_config(profile)
    r = env.run("start", "-n", str(n), "--daemonize", f"--profile={profile}", *args, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


def test_daemonize_task_list_stop(env):
    r = start_daemon(env)
    assert "Leaving cluster running" in r.stderr
    pdir = env.profile_dir()
    cfile = pdir / "security" / "cluster-.json"
    assert cfile.exists()
    data = json.loads(cfile.read_text())
    assert data["cluster"]["profile_dir"] == str(pdir)
    assert data["controller"]["class"] == "local"
    assert data["controller"]["state"]["state"] == "running"
    (engset,) = data["engines"]["sets"].values()
    assert engset["n"] == 2 and len(engset["engines"]) == 2
    assert (pdir / "pid" / "ipcluster.pid").exists()

    client = pdir / "security" / "ipcontroller-client.json"
    out = env.python(CLIENT_TASK.format(url=str(client), n=2))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[0, 1]", "[42, 42]"]

    ours = env.run("list", check_rc=0)
    lines = ours.stdout.splitlines()
    assert lines[0].split() == ["PROFILE", "CLUSTER", "ID", "RUNNING", "ENGINES", "LAUNCHER"]
    assert lines[1].split() == ["default", "''", "True", "2", "Local"]
    js = json.loads(env.run("list", "-o", "json", check_rc=0).stdout)
    assert js[0]["cluster"]["cluster_id"] == ""

    theirs = subprocess.run(["/usr/bin/ipcluster", "list"], env=env.env, capture_output=True,
                            text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    row = [l.split() for l in theirs.stdout.splitlines()[1:]]
    assert ["default", "''", "True", "2", "Local"] in row, theirs.stdout + theirs.stderr

    pids = env.recorded_pids()
    assert len(pids) >= 4  # ipcluster, controller, 2 engines
    env.run("stop", check_rc=0)
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")
    assert not cfile.exists()
    assert not (pdir / "pid" / "ipcluster.pid").exists()
    assert not (pdir / "security" / "ipcontroller-client.json").exists()


def test_python_cluster_from_file_sees_and_stops(env):
    start_daemon(env, "--cluster-id=cpp", n=2)
    pdir = env.profile_dir()
    code = f"""
import ipyparallel as ipp
c = ipp.Cluster.from_file(profile_dir={str(pdir)!r}, cluster_id='cpp')
print(bool(c.controller), sum(es.n for es in c.engines.values()))
c.stop_cluster_sync()
"""
    out = env.python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "2"]
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
    assert not (pdir / "security" / "cluster-cpp.json").exists()


def test_python_ipcluster_stop_stops_ours(env):
    start_daemon(env, n=1)
    r = subprocess.run(["/usr/bin/ipcluster", "stop"], env=env.env, capture_output=True,
                       text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")


def test_start_twice_is_10_and_stop_nothing_is_11(env):
    start_daemon(env, n=1)
    r = env.run("start", "-n", "1", "--daemonize")
    assert r.returncode == 10, (r.stdout, r.stderr)
    assert "already running" in r.stderr
    env.run("stop", check_rc=0)
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")
    r = env.run("stop")
    assert r.returncode == 11, r.stderr
    assert "Could not find cluster file" in r.stderr


def test_foreground_start_stops_on_sigterm_and_external_stop(env):
    env.write_config()
    p = subprocess.Popen([ipcluster_bin(), "start", "-n", "1"], env=env.env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        cfile = env.profile_dir() / "security" / "cluster-.json"
        wait_for(lambda: cfile.exists() and json.loads(cfile.read_text())["engines"]["sets"], 60,
                 what="engines started")
        # Python's ipcluster stop kills the controller; our foreground ipcluster then exits 0.
        r = subprocess.run(["/usr/bin/ipcluster", "stop"], env=env.env, capture_output=True,
                           text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert p.wait(timeout=60) == 0
        out = p.stdout.read()
        assert "Controller stopped" in out or "Stopping" in out, out
    finally:
        if p.poll() is None:
            p.kill()
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")


def test_progress_lines_and_success(env):
    env.write_config()
    p = subprocess.Popen([ipcluster_bin(), "start", "-n", "2"],
                         env=env.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Engines appear to have started successfully" in line:
                break
        p.send_signal(2)  # SIGINT
        assert p.wait(timeout=60) == 0
    finally:
        if p.poll() is None:
            p.kill()
    text = "".join(lines)
    assert "2/2 engines registered" in text, text
    assert "[IPClusterStart]" in text
    assert "Engines appear to have started successfully" in text
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")


def test_early_shutdown_reports_engine_output(env):
    env.write_config(extra="c.EngineLauncher.engine_cmd = ['/bin/sh', '-c', 'echo engine-broke-here; exit 3']\n")
    r = env.run("start", "-n", "2", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Engines shutdown early" in r.stderr
    assert "engine-broke-here" in r.stderr
    assert not (env.profile_dir() / "security" / "cluster-.json").exists()
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")


def test_controller_port_in_use_is_reported(env):
    env.write_config()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = env.run("start", "-n", "1", "--daemonize", f"--IPController.ports={port}",
                    "--", f"--ports={port}", timeout=120)
    finally:
        s.close()
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "controller failed to start" in r.stderr
    assert str(port) in r.stderr, r.stderr
    assert "ipcontroller-client.json" not in r.stderr.replace("no connection files", "")
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")


def test_profile_create_writes_commented_files(env):
    r = env.run("profile", "create", "myprofile", check_rc=0)
    p = env.profile_dir("myprofile")
    for name in ("ipcluster_config.py", "ipcontroller_config.py", "ipengine_config.py"):
        text = (p / name).read_text()
        assert text.startswith("# Configuration file for")
        assert "c = get_config()" in text
        active = [l for l in text.splitlines() if l.strip() and not l.startswith("#")]
        assert active == ["c = get_config()  # noqa"], active
    assert oct((p / "security").stat().st_mode & 0o777) == "0o700"
    assert oct((p / "pid").stat().st_mode & 0o777) == "0o700"
    # The files are accepted by Python's config loader too.
    out = subprocess.run(["/usr/bin/ipcluster", "list", "--profile=myprofile"], env=env.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # Existing files are kept.
    (p / "ipcluster_config.py").write_text("# mine\n")
    env.run("profile", "create", "myprofile", check_rc=0)
    assert (p / "ipcluster_config.py").read_text() == "# mine\n"


def test_cli_errors(env):
    assert env.run().returncode == 1
    assert env.run("start", "--bogusflag").returncode == 2
    r = env.run("list", "--profile=nosuch")
    assert r.returncode == 1 and "not found" in r.stderr


def test_clean(env):
    start_daemon(env, n=1)
    r = env.run("clean")
    assert r.returncode == 1 and "still running" in r.stderr
    env.run("stop", check_rc=0)
    env.run("clean", check_rc=0)
    assert not list((env.profile_dir() / "log").iterdir())


def test_unreachable_ssh_host_is_reported(env):
    # A loopback port nobody listens on: the connection is refused at once.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env.write_config(extra=(
        "c.Cluster.engine_launcher_class = 'ssh'\n"
        f"c.SSHEngineSetLauncher.engines = {{'127.0.0.1:{port}': 2}}\n"))
    r = env.run("start", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"127.0.0.1:{port}" in r.stderr
    assert "cannot connect" in r.stderr, r.stderr
    wait_for(lambda: not processes_under(env.root), 30, what="all processes gone")
