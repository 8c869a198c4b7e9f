"""A controller killed mid-run and restarted with --restore and the SQLite task store: engines
that are still alive keep their ids and run new tasks, an engine that died meanwhile is
unregistered after the heartbeat timeout, completed results stay retrievable, and tasks that were
running on live engines finish and are recorded.

Our controller, with our engines and with Python's. (Python's controller keeps a dead restored
engine registered forever, so it is not a peer for this test.) Run in CI's "ipcontroller start-up
and config" step."""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import pytest

from ipyparallel import error, interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, scaled, wait_for

PING_MS = 500


@interactive
def pid():
    import os

    return os.getpid()


@interactive
def nap_then_pid(seconds, marker=None):
    """Sleep, return the engine's pid; first create ``marker`` (a path) when given."""
    import os
    import time

    if marker:
        open(marker, "w").close()
    time.sleep(seconds)
    return os.getpid()


def committed(cluster, msg_ids, completed: bool = True) -> bool:
    """Whether the SQLite store's file holds these records (completed ones, by default)."""
    path = cluster.profile_dir / "tasks.db"
    if not path.exists():
        return False
    done = "completed IS NOT NULL AND " if completed else ""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        marks = ",".join("?" * len(msg_ids))
        rows = db.execute(f'SELECT COUNT(*) FROM "ipython-tasks" WHERE {done}'
                          f"msg_id IN ({marks})", msg_ids).fetchone()
    return rows[0] == len(msg_ids)


def engine_state(cluster) -> dict:
    return json.loads((cluster.profile_dir / "log" / "engines.json").read_text())


@pytest.mark.parametrize("engines", ["cpp", "python"])
def test_kill_9_and_restore(engines, tmp_path):
    impl = Impl("cpp", engines)
    with running_cluster(impl, 3, f"restart-{engines}", controller_args=["--sqlitedb"],
                         ping_ms=PING_MS) as cluster:
        rc = cluster.clients[0]
        pids = dict(zip(rc.ids, rc[rc.ids].apply_sync(pid)))
        assert sorted(pids) == [0, 1, 2]
        done = rc[:].apply_async(interactive(lambda x: x * 2), 21)
        assert done.get(timeout=scaled(30)) == [42, 42, 42]
        # The SQLite store commits every 2 s (as Python's): wait until these results are in the
        # file, where a controller killed now still has them.
        wait_for(lambda: committed(cluster, done.msg_ids), 20, message="results committed")

        # Tasks running on engines when the controller dies: wait until each has started (a
        # load-balanced task still waiting in the scheduler would be lost with it; docs/faults.md).
        marks = {k: str(tmp_path / k) for k in ("direct", "balanced", "doomed")}
        direct = rc[0].apply_async(nap_then_pid, 3, marks["direct"])
        balanced = rc.load_balanced_view(targets=[1]).apply_async(nap_then_pid, 3,
                                                                  marks["balanced"])
        doomed = rc[2].apply_async(nap_then_pid, 60, marks["doomed"])
        wait_for(lambda: all(os.path.exists(m) for m in marks.values()), 10,
                 message="the three tasks to start")

        cluster.controller.popen.send_signal(signal.SIGKILL)
        cluster.controller.popen.wait(scaled(10))
        os.kill(pids[2], signal.SIGKILL)
        victim = cluster.engine_proc_for_pid(pids[2])
        victim.popen.wait(scaled(10))

        cluster.controller = cluster._spawn("controller-restored", "cpp",
                                            cluster.controller_argv() + ["--restore"])

        # Tasks running on live engines finish and reach the client through the new controller.
        assert direct.get(timeout=scaled(60)) == pids[0]
        assert balanced.get(timeout=scaled(60)) == pids[1]
        # The dead engine is unregistered after the heartbeat timeout; its task fails.
        with pytest.raises((error.EngineError, error.RemoteError)) as excinfo:
            doomed.get(timeout=scaled(60))
        assert getattr(excinfo.value, "ename", type(excinfo.value).__name__) == "EngineError"
        wait_for(lambda: rc.ids == [0, 1], 30, message="engine 2 to be unregistered")
        wait_for(lambda: sorted(engine_state(cluster)["engines"]) == ["0", "1"], 10,
                 message="the engine-state file to drop engine 2")

        # A new client sees the live engines under their old ids, and the old results.
        fresh = cluster.connect()
        assert fresh.ids == [0, 1]
        assert fresh[[0, 1]].apply_sync(pid) == [pids[0], pids[1]]
        assert fresh.get_result(done.msg_ids).get(timeout=scaled(30)) == [42, 42, 42]
        in_flight = direct.msg_ids + balanced.msg_ids
        records = fresh.db_query({"msg_id": {"$in": in_flight}},
                                 keys=["msg_id", "completed", "engine_uuid"])
        assert sorted(r["msg_id"] for r in records) == sorted(in_flight)
        assert all(r["completed"] is not None for r in records)
        assert fresh.get_result(balanced.msg_ids).get(timeout=scaled(30)) == [pids[1]]
        # New load-balanced work runs on the survivors.
        view = fresh.load_balanced_view()
        assert set(view.map_sync(nap_then_pid, [0.01] * 8)) <= {pids[0], pids[1]}
        assert cluster.controller.alive()


@interactive
def long_once_then_pid(marker, seconds):
    """The first run writes the engine's pid to ``marker`` and sleeps; a rerun (a retry
    elsewhere) returns at once."""
    import os
    import time

    if os.path.exists(marker):
        return os.getpid()
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.parametrize("engines", ["cpp", "python"])
def test_load_balanced_tasks_survive_a_restart(engines, tmp_path):
    """Load-balanced tasks waiting in the scheduler, and ones running on engines that die while
    the controller is down, get their outcome after `--restore`: the waiting ones run, the one
    with retries is retried on a survivor, the other fails with EngineError."""
    impl = Impl("cpp", engines)
    with running_cluster(impl, 3, f"restart-lb-{engines}", controller_args=["--sqlitedb"],
                         ping_ms=PING_MS) as cluster:
        rc = cluster.clients[0]
        pids = dict(zip(rc.ids, rc[rc.ids].apply_sync(pid)))
        view = rc.load_balanced_view()
        # One task per engine (hwm 1): a short one, and two long ones whose engines will die.
        marks = [str(tmp_path / f"m{i}") for i in range(3)]
        short = view.apply_async(long_once_then_pid, marks[0], 3)
        with view.temp_flags(retries=1):
            retried = view.apply_async(long_once_then_pid, marks[1], 120)
        doomed = view.apply_async(long_once_then_pid, marks[2], 120)
        wait_for(lambda: all(os.path.exists(m) and open(m).read() for m in marks), 20,
                 message="the three tasks to start")
        ran_on = [int(open(m).read()) for m in marks]
        assert sorted(ran_on) == sorted(pids.values())
        # Every engine is busy: these wait in the scheduler.
        waiting = [view.apply_async(interactive(lambda x: x * 3), i) for i in range(6)]
        every = short.msg_ids + retried.msg_ids + doomed.msg_ids + sum(
            (w.msg_ids for w in waiting), [])
        wait_for(lambda: committed(cluster, every, completed=False), 20,
                 message="the requests committed")

        cluster.controller.popen.send_signal(signal.SIGKILL)
        cluster.controller.popen.wait(scaled(10))
        for victim in ran_on[1:]:
            os.kill(victim, signal.SIGKILL)
            cluster.engine_proc_for_pid(victim).popen.wait(scaled(10))
        cluster.controller = cluster._spawn("controller-restored", "cpp",
                                            cluster.controller_argv() + ["--restore"])

        assert short.get(timeout=scaled(60)) == ran_on[0]
        assert [w.get(timeout=scaled(60)) for w in waiting] == [i * 3 for i in range(6)]
        assert retried.get(timeout=scaled(60)) == ran_on[0]  # rerun on the survivor
        with pytest.raises((error.EngineError, error.RemoteError)) as excinfo:
            doomed.get(timeout=scaled(60))
        assert getattr(excinfo.value, "ename", type(excinfo.value).__name__) == "EngineError"
        wait_for(lambda: len(rc.ids) == 1, 30, message="the dead engines to be unregistered")

        # Every request has its outcome in the store, and a new client reads them back.
        fresh = cluster.connect()
        records = fresh.db_query({"msg_id": {"$in": every}}, keys=["msg_id", "completed"])
        assert sorted(r["msg_id"] for r in records) == sorted(every)
        assert all(r["completed"] is not None for r in records), records
        assert fresh.get_result(waiting[5].msg_ids).get(timeout=scaled(30)) == [15]
        assert cluster.controller.alive()
