"""Task dependencies in the load-balanced scheduler: after, follow, Dependency flags, timeouts,
impossible and invalid dependencies, and functional dependencies (@require, @depend)."""


import pytest

import ipyparallel as ipp
from ipyparallel import error, interactive

from ipp_testcluster import scaled

N_ENGINES = 3


@interactive
def sleep_and_return(t, value=None):
    import time

    time.sleep(t)
    return value


@interactive
def fail_after(t):
    import time

    time.sleep(t)
    raise ValueError("failed on purpose")


@interactive
def one():
    return 1


@interactive
def square(x):
    return x * x


def raises_remote(ename, f, *args, **kwargs):
    with pytest.raises(error.RemoteError) as excinfo:
        f(*args, **kwargs)
    assert excinfo.value.ename == ename, f"expected {ename}, got {excinfo.value.ename}: {excinfo.value}"
    return excinfo.value


@pytest.fixture
def lview(rc):
    return rc.load_balanced_view()


def test_after(lview):
    ar = lview.apply_async(sleep_and_return, 0.5, "first")
    with lview.temp_flags(after=ar):
        ar2 = lview.apply_async(sleep_and_return, 0, "second")
    assert ar2.get(timeout=scaled(30)) == "second"
    assert ar.get(timeout=scaled(30)) == "first"
    assert ar2.started >= ar.completed, f"{ar2.started} not >= {ar.completed}"


def test_after_list_of_many(lview):
    ars = [lview.apply_async(sleep_and_return, 0.2, i) for i in range(4)]
    with lview.temp_flags(after=ars):
        last = lview.apply_async(sleep_and_return, 0, "last")
    assert last.get(timeout=scaled(30)) == "last"
    assert last.started >= max(a.completed for a in ars)


def test_follow(lview):
    ar = lview.apply_async(one)
    ar.get(timeout=scaled(30))
    first_id = ar.engine_id
    with lview.temp_flags(follow=ar):
        ars = [lview.apply_async(sleep_and_return, 0.05, i) for i in range(6)]
    assert [a.get(timeout=scaled(30)) for a in ars] == list(range(6))
    assert {a.engine_id for a in ars} == {first_id}


def test_dependency_any_and_all(lview):
    ok = lview.apply_async(sleep_and_return, 0.1, "ok")
    bad = lview.apply_async(fail_after, 0.1)
    ok.wait(scaled(30))
    bad.wait(scaled(30))
    assert ok.successful() and not bad.successful()

    # all + success only: the failed dependency can never be met
    dep = ipp.Dependency([ok.msg_ids[0], bad.msg_ids[0]], all=True, success=True, failure=False)
    with lview.temp_flags(after=dep):
        raises_remote("ImpossibleDependency", lview.apply_sync, one)

    # any + success only: the successful one suffices
    dep = ipp.Dependency([ok.msg_ids[0], bad.msg_ids[0]], all=False, success=True, failure=False)
    with lview.temp_flags(after=dep):
        assert lview.apply_sync(one) == 1

    # all + success or failure: both finished, so met
    dep = ipp.Dependency([ok.msg_ids[0], bad.msg_ids[0]], all=True, success=True, failure=True)
    with lview.temp_flags(after=dep):
        assert lview.apply_sync(one) == 1


def test_dependency_failure_flags(lview):
    ok = lview.apply_async(sleep_and_return, 0.1, "ok")
    bad = lview.apply_async(fail_after, 0.1)
    ok.wait(scaled(30))
    bad.wait(scaled(30))

    # run only if the dependency failed
    with lview.temp_flags(after=ipp.Dependency(bad.msg_ids, success=False, failure=True)):
        assert lview.apply_sync(one) == 1
    with lview.temp_flags(after=ipp.Dependency(ok.msg_ids, success=False, failure=True)):
        raises_remote("ImpossibleDependency", lview.apply_sync, one)

    # a pending dependency that fails later makes the waiting task impossible
    slow_bad = lview.apply_async(fail_after, 0.5)
    with lview.temp_flags(after=ipp.Dependency(slow_bad.msg_ids, success=True, failure=False)):
        waiting = lview.apply_async(one)
    with pytest.raises(error.RemoteError) as excinfo:
        waiting.get(timeout=scaled(30))
    assert excinfo.value.ename == "ImpossibleDependency"
    assert slow_bad.ready()

    # both flags false is rejected by the client itself
    with pytest.raises(ValueError):
        ipp.Dependency(ok.msg_ids, success=False, failure=False)


def test_follow_dependency_on_failure(lview):
    bad = lview.apply_async(fail_after, 0)
    bad.wait(scaled(30))
    with lview.temp_flags(follow=ipp.Dependency(bad.msg_ids, success=False, failure=True)):
        ar = lview.apply_async(one)
    assert ar.get(timeout=scaled(30)) == 1
    assert ar.engine_id == bad.engine_id


def test_timeout(lview):
    blocker = lview.apply_async(sleep_and_return, 2.0, "slow")
    with lview.temp_flags(after=blocker, timeout=0.2):
        ar = lview.apply_async(one)
    with pytest.raises(error.RemoteError) as excinfo:
        ar.get(timeout=scaled(30))
    assert excinfo.value.ename == "TaskTimeout"
    # it timed out in the scheduler while the dependency was still running
    assert not blocker.ready()
    assert blocker.get(timeout=scaled(30)) == "slow"


def test_impossible_follow(lview, rc):
    ar1 = lview.apply_async(one)
    ar1.get(timeout=scaled(30))
    # a second task on another engine
    with lview.temp_flags(targets=[i for i in rc.ids if i != ar1.engine_id][:1]):
        ar2 = lview.apply_async(one)
    ar2.get(timeout=scaled(30))
    assert ar1.engine_id != ar2.engine_id
    with lview.temp_flags(follow=[ar1, ar2]):
        raises_remote("ImpossibleDependency", lview.apply_sync, one)
    # follow=any of them is fine
    with lview.temp_flags(follow=ipp.Dependency([ar1.msg_ids[0], ar2.msg_ids[0]], all=False)):
        ar = lview.apply_async(one)
    assert ar.get(timeout=scaled(30)) == 1
    assert ar.engine_id in (ar1.engine_id, ar2.engine_id)


def test_impossible_targets(lview, rc):
    # a failed attempt blacklists the engine; when every target is blacklisted the retry
    # becomes impossible
    with lview.temp_flags(targets=[0], retries=1):
        raises_remote("ImpossibleDependency", lview.apply_sync, fail_after, 0)
    # without retries the task's own error comes back
    with lview.temp_flags(targets=[0], retries=0):
        raises_remote("ValueError", lview.apply_sync, fail_after, 0)


def test_invalid_dependency(lview, rc):
    with lview.temp_flags(after="12345"):
        raises_remote("InvalidDependency", lview.apply_sync, one)
    # a direct (mux) task is unknown to the task scheduler
    direct = rc[0].apply_async(one)
    direct.get(timeout=scaled(30))
    with lview.temp_flags(follow=direct):
        raises_remote("InvalidDependency", lview.apply_sync, one)


def test_require_module(lview):
    @ipp.require("os", "base64")
    @interactive
    def encode(arg):
        return base64.b64encode(arg), os.sep  # noqa: F821

    assert lview.apply_sync(encode, b"foo") == (b"Zm9v", "/")


def test_require_function_and_object(lview, rc):
    @ipp.require(square)
    @interactive
    def uses_square(a):
        return square(a)  # noqa: F821

    rc[:].clear(block=True)
    assert lview.apply_sync(uses_square, 5) == 25

    @ipp.require(sq=square)
    @interactive
    def uses_sq(a):
        return sq(a)  # noqa: F821

    assert lview.apply_sync(uses_sq, 6) == 36


def test_require_missing_module_is_impossible(lview, rc):
    @ipp.require("ipp_no_such_module_anywhere")
    @interactive
    def never():
        return 1

    # every engine refuses (UnmetDependency): with explicit targets that is impossible ...
    with lview.temp_flags(targets=list(rc.ids)):
        raises_remote("ImpossibleDependency", lview.apply_sync, never)
    # ... without targets the task waits for a suitable engine to register, until its timeout
    with lview.temp_flags(timeout=1.0):
        raises_remote("TaskTimeout", lview.apply_sync, never)


def test_depend_on_subset_of_engines(lview, rc):
    rc[:].push({"allowed_here": False}, block=True)
    rc[1].push({"allowed_here": True}, block=True)

    @interactive
    def is_allowed():
        return allowed_here  # noqa: F821

    @ipp.depend(is_allowed)
    @interactive
    def work(i):
        return i * 2

    ars = [lview.apply_async(work, i) for i in range(6)]
    assert [a.get(timeout=scaled(30)) for a in ars] == [i * 2 for i in range(6)]
    assert {a.engine_id for a in ars} == {1}

    # no engine allowed any more: impossible when the candidates are explicit
    rc[1].push({"allowed_here": False}, block=True)
    with lview.temp_flags(targets=list(rc.ids)):
        raises_remote("ImpossibleDependency", lview.apply_sync, work, 1)
