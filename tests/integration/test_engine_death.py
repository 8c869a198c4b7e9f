"""Engines dying under load: SIGKILL during a task, and a frozen engine (SIGSTOP) detected by the
heartbeat. Tests run in order on one cluster and each kills one engine."""

import os
import signal
import time

import pytest

from ipyparallel import error, interactive

from ipp_testcluster import kill_proc, scaled, wait_for

N_ENGINES = 4


@interactive
def mark_and_sleep(marker, seconds):
    """Record our pid in ``marker``, then sleep."""
    import os
    import time

    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@interactive
def first_attempt_hangs(marker):
    """The first attempt records its pid and hangs; any later attempt returns at once."""
    import os
    import time

    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)
    return os.getpid()


def read_pid(path):
    def get():
        try:
            text = path.read_text()
        except OSError:
            return None
        return int(text) if text.strip() else None

    return wait_for(get, 30, message=f"task to start ({path.name})")


def engine_error_name(exc):
    return getattr(exc, "ename", type(exc).__name__)


def test_direct_task_on_killed_engine_raises_engine_error(cluster, rc, tmp_path):
    ids_before = list(rc.ids)
    victim = ids_before[0]
    marker = tmp_path / "direct"
    ar = rc[victim].apply_async(mark_and_sleep, str(marker), 120)
    pid = read_pid(marker)
    proc = cluster.engine_proc_for_pid(pid)
    kill_proc(proc, signal.SIGKILL)

    with pytest.raises((error.RemoteError, error.EngineError)) as excinfo:
        ar.get(timeout=scaled(30))
    assert engine_error_name(excinfo.value) == "EngineError"
    assert not ar.successful()

    wait_for(lambda: victim not in rc.ids, 30, message=f"engine {victim} to unregister")
    assert sorted(rc.ids) == [i for i in ids_before if i != victim]
    # the controller and the other engines carry on
    assert cluster.controller.alive()
    assert rc[:].apply_sync(interactive(lambda: 1)) == [1] * len(rc.ids)
    assert rc.load_balanced_view().map_sync(interactive(lambda x: -x), range(10)) == [-x for x in range(10)]


def test_lb_task_with_retries_completes_on_another_engine(cluster, rc, tmp_path):
    ids_before = list(rc.ids)
    marker = tmp_path / "lb"
    lview = rc.load_balanced_view()
    with lview.temp_flags(retries=1):
        ar = lview.apply_async(first_attempt_hangs, str(marker))
    pid = read_pid(marker)
    proc = cluster.engine_proc_for_pid(pid)
    t0 = time.monotonic()
    kill_proc(proc, signal.SIGKILL)

    result_pid = ar.get(timeout=scaled(60))
    assert result_pid != pid
    assert ar.successful()
    assert ar.engine_id in rc.ids
    # the scheduler waits a grace period before failing the stranded task (5 s in Python)
    assert time.monotonic() - t0 < scaled(30)
    wait_for(lambda: len(rc.ids) == len(ids_before) - 1, 30, message="engine to unregister")
    assert rc.load_balanced_view().apply_sync(interactive(lambda: "alive")) == "alive"


def test_lb_task_without_retries_fails_with_engine_error(cluster, rc, tmp_path):
    ids_before = list(rc.ids)
    marker = tmp_path / "lb0"
    lview = rc.load_balanced_view()
    ar = lview.apply_async(mark_and_sleep, str(marker), 120)
    pid = read_pid(marker)
    kill_proc(cluster.engine_proc_for_pid(pid), signal.SIGKILL)
    with pytest.raises((error.RemoteError, error.EngineError)) as excinfo:
        ar.get(timeout=scaled(60))
    assert engine_error_name(excinfo.value) == "EngineError"
    wait_for(lambda: len(rc.ids) == len(ids_before) - 1, 30, message="engine to unregister")


def test_frozen_engine_is_dropped_by_heartbeat(cluster, rc):
    """SIGSTOP leaves the process (and anything watching it) alive: only heartbeats notice."""
    ids_before = list(rc.ids)
    assert ids_before, "no engine left to freeze"
    victim = ids_before[-1]
    pid = rc[victim].apply_sync(os.getpid)
    proc = cluster.engine_proc_for_pid(pid)
    kill_proc(proc, signal.SIGSTOP)
    try:
        # ~11 missed heartbeats at the 500 ms period
        wait_for(lambda: victim not in rc.ids, 30, message=f"heartbeat loss of engine {victim}")
        assert proc.alive()
        assert cluster.controller.alive()
    finally:
        kill_proc(proc, signal.SIGKILL)  # also ends a stopped process
