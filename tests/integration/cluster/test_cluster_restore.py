"""After the cluster's ipcluster and controller were killed with `kill -9` (a host's OOM
killer, an ops mistake) while engines survive, with the profile's controller set to reuse its
files and restore its engines (c.IPController.reuse_files and restore_engines, what
`ipcontroller --restore` sets) and the SQLite store: `ipcluster start` refuses, as Python's does,
because the cluster file's engines still run; `ipcluster stop` stops them from the file alone; a
new `ipcluster start` then brings the controller back with its records (old results are still
retrievable) and new engines. Our ipcluster, controller and engines."""

from __future__ import annotations

import json
import os
import signal
import textwrap

from conftest import bin_dir, processes_under, wait_for


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
             open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10, what=f"pid {pid} to die")


def test_after_kill9_start_refuses_stop_cleans_start_restores(env):
    ours = str(bin_dir() / "ipengine")
    prof = env.write_config(extra=f"c.EngineLauncher.engine_cmd = [{ours!r}]\n")
    with open(prof / "ipcontroller_config.py", "a") as f:
        f.write("c.IPController.reuse_files = True\n")
        f.write("c.IPController.restore_engines = True\n")
        f.write("c.IPController.db_class = 'SQLiteDB'\n")
    r = env.run("start", "-n", "3", "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    client_file = str(prof / "security" / "ipcontroller-client.json")

    before = env.python(textwrap.dedent(f"""
        import json, os, time
        import ipyparallel as ipp
        rc = ipp.Client({client_file!r}, timeout=30)
        rc.wait_for_engines(3, timeout=60)
        pids = dict(zip(rc.ids, rc[:].apply_sync(os.getpid)))
        ar = rc.load_balanced_view().map_async(lambda x: x * 3, range(10))
        ar.get(timeout=30)
        time.sleep(2.5)  # the SQLite store commits every 2 s
        print(json.dumps({{"pids": pids, "msg_ids": ar.msg_ids}}))
        """))
    assert before.returncode == 0, before.stderr
    state = json.loads(before.stdout.strip().splitlines()[-1])
    pids = {int(k): v for k, v in state["pids"].items()}

    cluster = json.loads((prof / "security" / "cluster-.json").read_text())
    ipcluster_pid = int((prof / "pid" / "ipcluster.pid").read_text())
    controller_pid = cluster["controller"]["state"]["pid"]
    _kill(ipcluster_pid)
    _kill(controller_pid)
    dead_id = max(pids)
    _kill(pids[dead_id])  # one engine dies while there is no controller

    # As Python's ipcluster: a cluster file whose engines still run is a running cluster.
    r = env.run("start", "-n", "1", "--daemonize", timeout=120)
    assert r.returncode == 10, (r.stdout, r.stderr)
    assert "Cluster is already running at" in r.stderr and "cluster-.json" in r.stderr
    # `ipcluster stop` stops what the file records without its ipcluster: the surviving engines
    r = env.run("stop", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in pids.values()), 30,
             what="the surviving engines to be stopped")
    assert not (prof / "security" / "cluster-.json").exists()

    # and a new start restores the controller's state: old results are still there
    r = env.run("start", "-n", "2", "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    after = env.python(textwrap.dedent(f"""
        import json, time
        import ipyparallel as ipp
        rc = ipp.Client({client_file!r}, timeout=30)
        deadline = time.monotonic() + 60
        # the old engines are gone (unregistered at the heartbeat timeout); two new ones join
        while time.monotonic() < deadline and not (
                len(rc.ids) == 2 and not set(rc.ids) & set({sorted(pids)!r})):
            time.sleep(0.2)
        out = {{"ids": rc.ids, "new": rc[:].apply_sync(lambda: 42)}}
        out["old_results"] = rc.get_result({state["msg_ids"]!r}, block=True).get(timeout=30)
        out["db"] = len(rc.db_query({{"msg_id": {{"$in": {state["msg_ids"]!r}}}}},
                                    keys=["msg_id"]))
        print(json.dumps(out))
        """), timeout=180)
    assert after.returncode == 0, after.stdout + after.stderr
    res = json.loads(after.stdout.strip().splitlines()[-1])
    assert len(res["ids"]) == 2 and not set(res["ids"]) & set(pids), res
    assert res["new"] == [42, 42], res
    assert res["old_results"] == [[x * 3] for x in range(10)], res  # one chunk per task
    assert res["db"] == 10, res
    env.run("stop", check_rc=0)
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
