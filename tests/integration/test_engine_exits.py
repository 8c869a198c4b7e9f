"""Every way an engine process can end while it runs a task, with our controller: a SIGKILL from
outside (the OOM killer's way), ``os._exit`` in the task, a segfault in C code called through
``ctypes``, ``abort()`` in C code, and, for contrast, what does not end the engine: memory
exhausted under an address-space limit (``ulimit -v``; ``MemoryError``) and ``sys.exit`` in a
task (``SystemExit``, as Python's engine reports it).

A dead engine's task must fail with ``EngineError`` and the engine must be unregistered quickly:
the heartbeat runs at 3 s here, so it alone would take over 30 s; the controller's watch on its
engine connections must tell within a couple of seconds. The other engines go on. (Load-balanced tasks of a dying engine: test_engine_death.py, test_chaos.py.)

Our engines and Python's, under our controller."""

import os
import signal
import time

import pytest

from ipyparallel import error, interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, wait_for

PING_MS = 3000
QUICK = 2.0  # seconds: well under the heartbeat's 10 missed pings


@pytest.fixture(scope="module", params=["cpp", "python"])
def cluster(request):
    with running_cluster(Impl("cpp", request.param), 1, f"exits-{request.param}",
                         ping_ms=PING_MS) as c:
        c.kind = request.param
        yield c


@pytest.fixture
def rc(cluster):
    return cluster.clients[0]


@pytest.fixture
def fresh_engine(cluster, rc):
    """A newly started engine, its id and pid; the test may kill it."""
    before = set(rc.ids)
    cluster.start_engines(1)
    wait_for(lambda: set(rc.ids) - before, 60, interval=0.05, message="the new engine")
    (eid,) = set(rc.ids) - before
    return eid, rc[eid].apply_sync(os.getpid)


@interactive
def exit_now(code):
    import os

    os._exit(code)


@interactive
def segfault():
    import ctypes

    return ctypes.string_at(0)


@interactive
def c_abort():
    import ctypes

    ctypes.CDLL(None).abort()


@interactive
def sleep_forever():
    import time

    time.sleep(3600)


def _dies_with_engine_error(cluster, rc, eid, pid, ar, kill=None):
    """``ar`` fails with EngineError and ``eid`` is unregistered within QUICK seconds."""
    gone = {}

    def on_unregistration(msg):
        if msg["content"].get("id") == eid:
            gone.setdefault("t", time.monotonic())

    rc._notification_handlers["unregistration_notification"] = _chain(
        rc._notification_handlers["unregistration_notification"], on_unregistration
    )
    time.sleep(0.3)  # the task is running
    t0 = time.monotonic()
    if kill is not None:
        os.kill(pid, kill)
    with pytest.raises(error.RemoteError) as info:
        ar.get(timeout=30)
    failed = time.monotonic() - t0
    assert info.value.ename == "EngineError", info.value
    wait_for(lambda: eid not in rc.ids, 30, interval=0.01, message="unregistration")
    assert failed < QUICK, f"the task failed {failed:.2f} s after the engine died"
    assert gone.get("t", t0 + 99) - t0 < QUICK, "unregistration notification too late"
    proc = cluster.engine_proc_for_pid(pid)
    proc.popen.wait(timeout=10)
    assert proc.popen.returncode != 0
    # the other engines go on, and no task of theirs was touched
    assert all(v == 7 for v in rc[:].apply_sync(interactive(lambda: 7)))


def _chain(first, second):
    def both(msg):
        first(msg)
        second(msg)

    return both


def test_sigkill_from_outside(cluster, rc, fresh_engine):
    eid, pid = fresh_engine
    ar = rc[eid].apply_async(sleep_forever)
    _dies_with_engine_error(cluster, rc, eid, pid, ar, kill=signal.SIGKILL)


def test_os_exit_in_a_task(cluster, rc, fresh_engine):
    eid, pid = fresh_engine
    ar = rc[eid].apply_async(exit_now, 3)
    _dies_with_engine_error(cluster, rc, eid, pid, ar)


def test_segfault_in_c_code(cluster, rc, fresh_engine):
    eid, pid = fresh_engine
    ar = rc[eid].apply_async(segfault)
    _dies_with_engine_error(cluster, rc, eid, pid, ar)


def test_abort_in_c_code(cluster, rc, fresh_engine):
    eid, pid = fresh_engine
    ar = rc[eid].apply_async(c_abort)
    _dies_with_engine_error(cluster, rc, eid, pid, ar)


def test_memory_exhausted_under_ulimit_is_a_task_error(cluster, rc, fresh_engine):
    eid, pid = fresh_engine

    @interactive
    def exhaust():
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm * 1024 + (64 << 20), hard))
        try:
            hog = []
            while True:
                hog.append(bytearray(1 << 20))
        finally:
            hog = None
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    with pytest.raises(error.RemoteError) as info:
        rc[eid].apply_sync(exhaust)
    assert info.value.ename == "MemoryError"
    # the engine survived and is whole
    assert rc[eid].apply_sync(os.getpid) == pid
    assert rc[eid].apply_sync(interactive(lambda: sum(range(10)))) == 45
    assert eid in rc.ids


def test_sys_exit_in_a_task_is_a_task_error(cluster, rc, fresh_engine):
    import sys

    eid, pid = fresh_engine
    with pytest.raises(error.RemoteError) as info:
        rc[eid].apply_sync(sys.exit, 4)
    assert info.value.ename == "SystemExit"
    assert rc[eid].apply_sync(os.getpid) == pid
