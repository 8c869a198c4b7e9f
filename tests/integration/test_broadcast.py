"""BroadcastView: the broadcast scheduler tree, plain and coalescing."""

import os

import pytest

from ipyparallel import error, interactive

from ipp_testcluster import scaled

# three engines over the two leaves of the default depth-1 tree: leaf 0 serves engines 0 and 2
N_ENGINES = 3


@interactive
def whoami(tag=None):
    import os

    return os.getpid(), tag


@pytest.fixture(scope="module")
def direct_pids(rc):
    return rc[:].apply_sync(os.getpid)


@pytest.mark.parametrize("coalescing", [False, True], ids=["plain", "coalescing"])
def test_broadcast_apply(rc, direct_pids, coalescing):
    bview = rc.broadcast_view(is_coalescing=coalescing)
    result = bview.apply_sync(whoami, "t")
    assert len(result) == N_ENGINES
    assert sorted(r[0] for r in result) == sorted(direct_pids)
    assert {r[1] for r in result} == {"t"}

    ar = bview.apply_async(whoami, 7)
    values = ar.get(timeout=scaled(30))
    assert sorted(v[0] for v in values) == sorted(direct_pids)
    assert ar.successful()


@pytest.mark.parametrize("coalescing", [False, True], ids=["plain", "coalescing"])
def test_broadcast_subset_of_targets(rc, direct_pids, coalescing):
    bview = rc.broadcast_view(targets=[0, 2], is_coalescing=coalescing)
    result = bview.apply_sync(whoami)
    assert sorted(r[0] for r in result) == sorted([direct_pids[0], direct_pids[2]])
    bview = rc.broadcast_view(targets=[1], is_coalescing=coalescing)
    assert [r[0] for r in bview.apply_sync(whoami)] == [direct_pids[1]]


def test_broadcast_push_list_and_execute(rc):
    bview = rc.broadcast_view()
    data = [1, 2.5, "three", [4], {"five": 5}, None]
    bview.push({"pushed_list": data}, block=True)
    assert rc[:].pull("pushed_list", block=True) == [data] * N_ENGINES
    bview.execute("pushed_len = len(pushed_list)", block=True)
    assert rc[:].pull("pushed_len", block=True) == [len(data)] * N_ENGINES
    assert bview.pull("pushed_len", block=True) == [len(data)] * N_ENGINES


def test_broadcast_scatter_gather(rc):
    bview = rc.broadcast_view()
    seq = list(range(10))
    bview.scatter("chunk", seq, block=True)
    assert sum(rc[:].pull("chunk", block=True), []) == seq
    assert bview.gather("chunk", block=True) == seq


@pytest.mark.parametrize("coalescing", [False, True], ids=["plain", "coalescing"])
def test_broadcast_output_and_errors(rc, coalescing):
    bview = rc.broadcast_view(is_coalescing=coalescing)

    @interactive
    def shout():
        print("broadcast says hi")
        return 1

    ar = bview.apply_async(shout)
    assert ar.get(timeout=scaled(30)) == [1] * N_ENGINES
    if not coalescing:
        ar.wait_for_output(timeout=scaled(10))
        assert ar.stdout == ["broadcast says hi\n"] * N_ENGINES

    @interactive
    def fail_on_engine_1():
        if engine_tag == 1:  # noqa: F821 (engine namespace)
            raise ValueError("engine one")
        return "fine"

    @interactive
    def fail_everywhere():
        raise ValueError("everywhere")

    if coalescing:
        # one coalesced reply per request: when every engine fails, it carries the error
        ar = bview.apply_async(fail_everywhere)
        with pytest.raises(error.RemoteError) as excinfo:
            ar.get(timeout=scaled(30))
        names = [e[0] for e in getattr(excinfo.value, "elist", [])] or [excinfo.value.ename]
        assert set(names) == {"ValueError"}
    else:
        # one reply per engine: only engine 1's failure is reported
        rc[:].push({"engine_tag": 0}, block=True)
        rc[1].push({"engine_tag": 1}, block=True)
        ar = bview.apply_async(fail_on_engine_1)
        with pytest.raises(error.CompositeError) as excinfo:
            ar.get(timeout=scaled(30))
        assert [e[0] for e in excinfo.value.elist] == ["ValueError"]
        assert [e[1] for e in excinfo.value.elist] == ["engine one"]
