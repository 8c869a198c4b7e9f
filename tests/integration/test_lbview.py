"""Load-balanced execution (task scheduler): map, many tasks, schemes, retries, targets."""

import time

import pytest

from ipyparallel import error, interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import scaled, wait_for

N_ENGINES = 3
# The 10,000-task map keeps Python's controller (which logs every message at debug level here)
# busy for seconds under load; with a 500 ms heartbeat its monitor then drops live engines.
# Nothing in this module depends on how fast a dead engine is noticed.
PING_MS = 2000

SCHEMES = ["leastload", "lru", "twobin", "plainrandom", "weighted", "pure"]


@interactive
def square(x):
    return x * x


@interactive
def getpid_after(delay=0.0, *args):
    import os
    import time

    time.sleep(delay)
    return os.getpid()


def test_map_async_squares_progress(rc):
    """The classic example: map a lambda over 10000 items and watch the progress."""
    lview = rc.load_balanced_view()
    amr = lview.map_async(interactive(lambda x: x * x), range(10000))
    assert len(amr.msg_ids) == 10000
    seen = [amr.progress]
    ready_seen_false = not amr.ready()
    deadline = time.monotonic() + scaled(240)
    while not amr.ready():
        assert time.monotonic() < deadline, f"map not done, progress {amr.progress}"
        seen.append(amr.progress)
        time.sleep(0.05)
    seen.append(amr.progress)
    assert ready_seen_false, "map of 10000 tasks was already complete right after submission"
    assert seen == sorted(seen), "progress went backwards"
    assert any(0 < p < 10000 for p in seen), f"no intermediate progress observed: {seen[:5]}..."
    assert amr.progress == 10000
    assert amr.ready()
    assert amr.result() == [x * x for x in range(10000)]
    assert amr.successful()
    # the work was spread over all engines
    assert set(amr.engine_id) == set(rc.ids)


def test_apply_async_many_tasks(rc):
    lview = rc.load_balanced_view()
    ars = [lview.apply_async(square, i) for i in range(300)]
    assert [ar.get(timeout=scaled(60)) for ar in ars] == [i * i for i in range(300)]
    engines = {ar.engine_id for ar in ars}
    assert engines == set(rc.ids)
    for ar in ars[:5]:
        md = ar.metadata
        assert md["status"] == "ok"
        assert md["engine_uuid"] == rc._engines[md["engine_id"]]


@interactive
def mark_then_getpid_after(path, delay):
    import os
    import time

    open(path, "w").close()
    time.sleep(delay)
    return os.getpid()


def test_load_is_balanced_with_busy_engines(rc, tmp_path):
    """HWM 1: while one engine is busy, short tasks go to the others."""
    lview = rc.load_balanced_view()
    marker = tmp_path / "busy-task-started"
    busy = lview.apply_async(mark_then_getpid_after, str(marker), scaled(3.0))
    # Wait for the engine to run it, not for queue_status: a hub (Python's, logging every
    # message) can lag seconds behind the scheduler under load, past the end of the busy task.
    wait_for(marker.exists, 30, message="busy task started on an engine")
    quick = [lview.apply_async(getpid_after, 0.0) for _ in range(10)]
    quick_pids = {ar.get(timeout=scaled(30)) for ar in quick}
    assert busy.get(timeout=scaled(30)) not in quick_pids


def test_lbview_map_sync_and_ordering(rc):
    lview = rc.load_balanced_view()
    assert lview.map_sync(square, range(50)) == [i * i for i in range(50)]
    amr = lview.map_async(square, range(40), chunksize=7)
    assert len(amr.msg_ids) == 6
    assert amr.get(timeout=scaled(30)) == [i * i for i in range(40)]
    unordered = lview.map_async(getpid_after, [0.3, 0.0, 0.0], ordered=False)
    assert len(list(unordered)) == 3


def test_lb_stdout_and_error(rc):
    lview = rc.load_balanced_view()

    @interactive
    def talk():
        print("hello from task")
        return 1

    ar = lview.apply_async(talk)
    assert ar.get(timeout=scaled(30)) == 1
    ar.wait_for_output(timeout=scaled(10))
    assert ar.stdout == "hello from task\n"

    @interactive
    def boom():
        raise KeyError("lb-key")

    with pytest.raises(error.RemoteError) as excinfo:
        lview.apply_sync(boom)
    assert excinfo.value.ename == "KeyError"
    assert "lb-key" in excinfo.value.evalue


def test_targets(rc):
    lview = rc.load_balanced_view(targets=[1])
    ars = [lview.apply_async(square, i) for i in range(12)]
    assert [ar.get(timeout=scaled(30)) for ar in ars] == [i * i for i in range(12)]
    assert {ar.engine_id for ar in ars} == {1}

    sub = rc.load_balanced_view(targets=[0, 2])
    ars = [sub.apply_async(getpid_after, 0.05) for i in range(12)]
    for ar in ars:
        ar.get(timeout=scaled(30))
    assert {ar.engine_id for ar in ars} <= {0, 2}

    lview = rc.load_balanced_view()
    with lview.temp_flags(targets=[2]):
        ar = lview.apply_async(square, 3)
    assert ar.get(timeout=scaled(30)) == 9
    assert ar.engine_id == 2


@interactive
def fail_first_time(marker_dir):
    """Raise on the first attempt (recording our pid), succeed on later attempts."""
    import os

    marker = os.path.join(marker_dir, "first-attempt")
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        raise RuntimeError("first attempt fails")
    return os.getpid()


@interactive
def always_fail():
    raise ValueError("Failed!")


def test_retries(rc, tmp_path):
    lview = rc.load_balanced_view()
    # retries=0: the failure comes back
    with lview.temp_flags(retries=0):
        with pytest.raises(error.RemoteError) as excinfo:
            lview.apply_sync(fail_first_time, str(tmp_path / "a"))
    (tmp_path / "a").mkdir(exist_ok=True)
    # (the directory did not exist so the marker write failed with FileNotFoundError)
    assert excinfo.value.ename == "FileNotFoundError"

    # retries=1: the first failure is hidden, the task is rerun on another engine
    with lview.temp_flags(retries=1):
        ar = lview.apply_async(fail_first_time, str(tmp_path / "a"))
        pid = ar.get(timeout=scaled(30))
    first_pid = int((tmp_path / "a" / "first-attempt").read_text())
    assert pid != first_pid
    assert ar.metadata["status"] == "ok"

    # every attempt fails: the last error is returned
    for r in range(len(rc) - 1):
        with lview.temp_flags(retries=r):
            with pytest.raises(error.RemoteError) as excinfo:
                lview.apply_sync(always_fail)
            assert excinfo.value.ename == "ValueError"

    # more retries than engines: all engines get blacklisted, the task waits until timeout
    with lview.temp_flags(retries=len(rc), timeout=0.5):
        with pytest.raises(error.RemoteError) as excinfo:
            lview.apply_sync(always_fail)
    assert excinfo.value.ename == "TaskTimeout"


# ---------------------------------------------------------------------------------- schemes


@pytest.fixture(scope="module", params=SCHEMES)
def scheme_cluster(request, impl):
    scheme = request.param
    args = [f"--scheme={scheme}"]
    with running_cluster(
        impl,
        2,
        f"scheme-{scheme}",
        controller_args=args,
        keep_files=request.config.getoption("--keep-cluster-files"),
    ) as c:
        c.scheme = scheme
        if scheme == "pure":
            # A client using the pure ZMQ queue stops farming tasks as soon as its engine ids are
            # not exactly 0..n-1, which happens transiently when registration notifications
            # arrive out of id order. Connect the client used by the test after all engines are
            # registered, so it learns them all from its connection_reply.
            c.clients.insert(0, c.connect())
            assert sorted(c.clients[0].ids) == [0, 1]
        yield c


def test_scheme_runs_map(scheme_cluster):
    c = scheme_cluster
    rc = c.clients[0]
    assert c.connection_info("client")["task_scheme"] == c.scheme
    lview = rc.load_balanced_view()
    amr = lview.map_async(getpid_after, [0.05] * 30)
    pids = amr.get(timeout=scaled(60))
    assert len(pids) == 30
    # with at most one outstanding task per engine (or round robin for pure), both engines work
    assert len(set(pids)) == 2
    assert set(amr.engine_id) == set(rc.ids)
    assert lview.map_sync(square, range(25)) == [i * i for i in range(25)]
    ar = lview.apply_async(interactive(lambda: 1 / 0))
    with pytest.raises(error.RemoteError) as excinfo:
        ar.get(timeout=scaled(30))
    assert excinfo.value.ename == "ZeroDivisionError"
