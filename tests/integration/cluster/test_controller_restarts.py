"""c.Cluster.controller_restart_limit: when the controller of a running cluster dies (here
`kill -9`), ipcluster starts a new one with --restore instead of stopping the cluster. The
engines keep running and keep their ids, a client connected before the crash gets the results of
its load-balanced tasks (the one running and the ones waiting in the scheduler), and the log says
what happened. Past the limit, ipcluster stops as Python's does. Our ipcluster, controller and
engines, with the SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import bin_dir, wait_for

CLIENT = textwrap.dedent("""
    import json, os, signal, sqlite3, sys, time
    import ipyparallel as ipp
    rc = ipp.Client({client_file!r}, timeout=30)
    rc.wait_for_engines(2, timeout=60)
    pids = dict(zip(rc.ids, rc[:].apply_sync(os.getpid)))

    def nap(seconds, marker):
        import os, time
        open(marker, "w").close()
        time.sleep(seconds)
        return os.getpid()

    view = rc.load_balanced_view()
    running = [view.apply_async(nap, 3, {marker!r} + str(i)) for i in range(2)]
    while not all(os.path.exists({marker!r} + str(i)) for i in range(2)):
        time.sleep(0.05)
    waiting = view.map_async(lambda x: x * 3, range(6))  # both engines busy: these wait
    ids = [m for r in running for m in r.msg_ids] + waiting.msg_ids
    db = {db!r}
    while True:  # the store commits every 2 s: wait until the requests are in the file
        with sqlite3.connect(f"file:{{db}}?mode=ro", uri=True) as c:
            marks = ",".join("?" * len(ids))
            n = c.execute(f'SELECT COUNT(*) FROM "ipython-tasks" WHERE msg_id IN ({{marks}})',
                          ids).fetchone()[0]
        if n == len(ids):
            break
        time.sleep(0.2)
    cluster = json.load(open({cluster_file!r}))
    os.kill(cluster["controller"]["state"]["pid"], signal.SIGKILL)
    print("killed", flush=True)
    print(json.dumps({{
        "running": sorted(r.get(timeout=60) for r in running),
        "waiting": waiting.get(timeout=60),
        "pids": sorted(pids.values()),
        "ids": rc.ids,
        "after": sorted(rc[:].apply_sync(os.getpid)),
    }}))
    """)


def test_killed_controller_is_restarted_with_its_engines_and_tasks(env, tmp_path):
    ours = str(bin_dir() / "ipengine")
    prof = env.write_config(extra=f"c.EngineLauncher.engine_cmd = [{ours!r}]\n"
                                  "c.Cluster.controller_restart_limit = 2\n"
                                  "c.Cluster.controller_restart_delay = 0.2\n")
    with open(prof / "ipcontroller_config.py", "a") as f:
        f.write("c.IPController.db_class = 'SQLiteDB'\n")
    r = env.run("start", "-n", "2", "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    cluster_file = prof / "security" / "cluster-.json"
    first = json.loads(cluster_file.read_text())["controller"]["state"]["pid"]

    out = env.python(CLIENT.format(client_file=str(prof / "security" / "ipcontroller-client.json"),
                                   cluster_file=str(cluster_file), db=str(prof / "tasks.db"),
                                   marker=str(tmp_path / "started")), timeout=240)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["running"] == got["pids"]  # each running task finished on its engine
    assert got["waiting"] == [x * 3 for x in range(6)]
    assert got["ids"] == [0, 1] and got["after"] == got["pids"]  # same engines, same ids

    second = json.loads(cluster_file.read_text())["controller"]["state"]["pid"]
    assert second != first and os.path.exists(f"/proc/{second}")
    log = next((prof / "log").glob("ipcluster-*.log")).read_text()
    assert "Restarting the controller with --restore in 0.2 s (restart 1 of at most 2" in log, log
    assert "Restarted the controller" in log

    # Dying young, again and again: the second restart in a row is the last one, and past the
    # limit ipcluster stops, engines included.
    ipcluster_pid = int((prof / "pid" / "ipcluster.pid").read_text())
    os.kill(second, signal.SIGKILL)
    wait_for(lambda: json.loads(cluster_file.read_text())["controller"]["state"]["pid"]
             not in (first, second), 30, what="the second controller restart")
    os.kill(json.loads(cluster_file.read_text())["controller"]["state"]["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{ipcluster_pid}"), 60, what="ipcluster to stop")
    log = next((prof / "log").glob("ipcluster-*.log")).read_text()
    assert "restart 2 of at most 2 in a row" in log, log
    assert "Controller restart limit (2) reached" in log, log
    for p in got["pids"]:
        wait_for(lambda: not os.path.exists(f"/proc/{p}"), 30, what=f"engine {p} to stop")


def _start(env, n: int, extra: str = ""):
    """`ipcluster start -n N --daemonize` with our engines; the profile, its cluster file and
    ipcluster's pid."""
    ours = str(bin_dir() / "ipengine")
    prof = env.write_config(extra=f"c.EngineLauncher.engine_cmd = [{ours!r}]\n" + extra)
    r = env.run("start", "-n", str(n), "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    cluster_file = prof / "security" / "cluster-.json"
    return prof, cluster_file, int((prof / "pid" / "ipcluster.pid").read_text())


def test_off_by_default_ipcluster_stops_with_its_controller(env):
    prof, cluster_file, ipcluster_pid = _start(env, 1)
    os.kill(json.loads(cluster_file.read_text())["controller"]["state"]["pid"], signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{ipcluster_pid}"), 60, what="ipcluster to stop")
    log = next((prof / "log").glob("ipcluster-*.log")).read_text()
    assert "Controller stopped" in log and "Shutting down." in log, log
    assert "Restarting the controller" not in log


def test_a_controller_stopped_cleanly_is_not_restarted(env):
    """Python's `ipcluster stop` and a client's shutdown stop the controller cleanly (SIGTERM,
    exit 0): the cluster ends with it even with restarts on."""
    prof, cluster_file, ipcluster_pid = _start(env, 1, "c.Cluster.controller_restart_limit = 2\n")
    os.kill(json.loads(cluster_file.read_text())["controller"]["state"]["pid"], signal.SIGTERM)
    wait_for(lambda: not os.path.exists(f"/proc/{ipcluster_pid}"), 60, what="ipcluster to stop")
    log = next((prof / "log").glob("ipcluster-*.log")).read_text()
    assert "Controller stopped (exited with status 0). Shutting down." in log, log
    assert "Restarting the controller" not in log
