"""Direct (mux) execution through DirectView: apply, execute, push/pull, scatter/gather, map.

Functions sent to engines are marked ``@interactive`` (as if defined in ``__main__``, like in a
notebook), so engines never need to import this test module.
"""

import os
import socket
import time

import pytest

import ipyparallel as ipp
from ipyparallel import error, interactive

N_ENGINES = 3


def test_wait_for_engines_and_ids(cluster, rc):
    rc.wait_for_engines(N_ENGINES, timeout=30)
    assert sorted(rc.ids) == list(range(N_ENGINES))
    assert len(rc) == N_ENGINES
    # every engine is a distinct process we launched
    pids = rc[:].apply_sync(os.getpid)
    assert len(set(pids)) == N_ENGINES
    launched = {p.pid for p in cluster.engines}
    for pid in pids:
        assert cluster.engine_proc_for_pid(pid).pid in launched


def test_apply_sync_and_async(rc):
    @interactive
    def add(a, b=0):
        return a + b

    assert rc[0].apply_sync(add, 1, b=2) == 3
    assert rc[:].apply_sync(add, "x", b="y") == ["xy"] * N_ENGINES
    ar = rc[:].apply_async(add, 40, 2)
    assert isinstance(ar, ipp.AsyncResult)
    assert ar.get(timeout=30) == [42] * N_ENGINES
    assert ar.successful()
    assert sorted(ar.engine_id) == sorted(rc.ids)
    # metadata a client relies on
    md = ar.metadata[0]
    assert md["status"] == "ok"
    assert md["engine_uuid"] == rc._engines[md["engine_id"]]
    assert md["started"] is not None and md["completed"] is not None
    assert md["completed"] >= md["started"]


def test_apply_large_and_binary_arguments(rc):
    blob = os.urandom(1 << 20)

    @interactive
    def echo_len(b, s):
        return len(b), s

    text = "héllo ☃ \u0000 end"
    assert rc[1].apply_sync(echo_len, blob, text) == (len(blob), text)
    assert rc[1].apply_sync(interactive(lambda b: b), blob) == blob


def test_execute_and_namespace(rc):
    dv = rc[:]
    dv.execute("a_value = 6 * 7", block=True)
    assert dv.pull("a_value", block=True) == [42] * N_ENGINES
    ar = rc[0].execute("print('out-line'); import sys; print('err-line', file=sys.stderr)", block=False)
    ar.get(timeout=30)
    ar.wait_for_output(timeout=10)
    assert ar.stdout == "out-line\n"
    assert ar.stderr == "err-line\n"


def test_execute_output_like_px(rc):
    """What %px shows: per-engine stdout of an execute on all engines."""
    dv = rc[:]
    ar = dv.execute("for i in range(3): print('px', i)", block=False)
    ar.get(timeout=30)
    ar.wait_for_output(timeout=10)
    assert ar.stdout == ["px 0\npx 1\npx 2\n"] * N_ENGINES
    ar = dv.execute("6 * 7", silent=False, block=False)
    ar.get(timeout=30)
    ar.wait_for_output(timeout=10)
    results = ar.execute_result
    assert len(results) == N_ENGINES
    assert all(r is not None and r["data"]["text/plain"] == "42" for r in results)


def test_apply_stdout_stderr(rc):
    @interactive
    def noisy(n):
        import sys

        for i in range(n):
            print("line", i)
        sys.stderr.write("warned\n")
        return n

    ar = rc[:].apply_async(noisy, 2)
    assert ar.get(timeout=30) == [2] * N_ENGINES
    ar.wait_for_output(timeout=10)
    assert ar.stdout == ["line 0\nline 1\n"] * N_ENGINES
    assert ar.stderr == ["warned\n"] * N_ENGINES


def test_push_pull(rc):
    dv = rc[:]
    data = {"a": 5, "b": [1, 2, {"c": "d"}], "s": "text", "raw": b"\x00\xff"}
    dv.push(data, block=True)
    assert dv.pull("a", block=True) == [5] * N_ENGINES
    assert dv.pull(("b", "s", "raw"), block=True) == [[data["b"], "text", b"\x00\xff"]] * N_ENGINES
    rc[1].push({"only_one": 1}, block=True)
    assert rc[1].pull("only_one", block=True) == 1
    with pytest.raises(error.CompositeError) as excinfo:
        dv.pull("only_one", block=True)
    assert "NameError" in str(excinfo.value)
    # dict-style access
    dv["z"] = 3
    assert dv["z"] == [3] * N_ENGINES


def test_scatter_gather(rc):
    dv = rc[:]
    seq = list(range(17))
    dv.scatter("part", seq, block=True)
    parts = dv.pull("part", block=True)
    assert len(parts) == N_ENGINES
    assert sum(parts, []) == seq
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert dv.gather("part", block=True) == seq
    dv.execute("part = [x * 10 for x in part]", block=True)
    assert dv.gather("part", block=True) == [x * 10 for x in seq]


def test_map(rc):
    dv = rc[:]
    assert dv.map_sync(interactive(lambda x: x * x), range(20)) == [x * x for x in range(20)]
    amr = dv.map_async(interactive(lambda x, y: x + y), range(10), range(10, 20))
    assert amr.get(timeout=30) == [x + y for x, y in zip(range(10), range(10, 20))]
    assert list(dv.map(str, [1, 2, 3], block=True)) == ["1", "2", "3"]


def test_remote_decorator_returns_hostnames(rc):
    dview = rc[:]

    @dview.remote(block=True)
    @interactive
    def gethostname():
        import socket

        return socket.gethostname()

    names = gethostname()
    assert names == [socket.gethostname()] * N_ENGINES


def test_remote_error_content(rc):
    @interactive
    def fail(msg):
        raise ValueError(msg)

    with pytest.raises(error.RemoteError) as excinfo:
        rc[0].apply_sync(fail, "bad value 17")
    err = excinfo.value
    assert err.ename == "ValueError"
    assert err.evalue == "bad value 17"
    assert "ValueError" in "\n".join(err.render_traceback())
    assert err.engine_info.get("engine_uuid") == rc._engines[0]

    ar = rc[:].apply_async(fail, "everywhere")
    with pytest.raises(error.CompositeError) as excinfo:
        ar.get(timeout=30)
    assert len(excinfo.value.elist) == N_ENGINES
    assert {e[0] for e in excinfo.value.elist} == {"ValueError"}
    assert {e[1] for e in excinfo.value.elist} == {"everywhere"}
    assert not ar.successful()


def test_execute_error(rc):
    with pytest.raises(error.RemoteError) as excinfo:
        rc[2].execute("1/0", block=True)
    assert excinfo.value.ename == "ZeroDivisionError"
    assert "division by zero" in excinfo.value.evalue


def test_queue_order_on_one_engine(rc):
    """Requests to one engine run in submission order."""
    v = rc[1]
    v.execute("order = []", block=True)
    ars = [v.apply_async(interactive(lambda i: order.append(i)), i) for i in range(30)]  # noqa: F821
    for ar in ars:
        ar.get(timeout=30)
    assert v.pull("order", block=True) == list(range(30))


def test_async_results_arrive_while_others_pending(rc):
    slow = rc[0].apply_async(time.sleep, 1.5)
    fast = rc[1].apply_async(interactive(lambda: "fast"))
    assert fast.get(timeout=30) == "fast"
    assert not slow.ready()
    slow.get(timeout=30)
    assert slow.ready()
