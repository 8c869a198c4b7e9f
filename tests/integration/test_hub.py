"""Hub queries: queue_status, result_status/get_result from another client, db_query,
hub_history, purge_results, resubmit — with the default in-memory DB, --sqlitedb and --nodb."""


import pytest

from ipyparallel import error, interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import scaled, wait_for

DBS = {
    "default-db": [],  # in-memory DictDB, the default
    "sqlitedb": ["--sqlitedb"],
    "nodb": ["--nodb"],
}


@interactive
def double(x):
    return 2 * x


@interactive
def nap(t):
    import time

    time.sleep(t)
    return t


@pytest.fixture(scope="module", params=list(DBS))
def hub(request, impl):
    with running_cluster(
        impl,
        2,
        f"hub-{request.param}",
        controller_args=DBS[request.param],
        keep_files=request.config.getoption("--keep-cluster-files"),
    ) as c:
        c.db = request.param
        yield c


@pytest.fixture
def rc(hub):
    return hub.clients[0]


@pytest.fixture
def fresh_client(hub):
    """A client that has never seen any result (so every lookup goes to the hub)."""
    clients = []

    def make():
        c = hub.connect()
        clients.append(c)
        return c

    yield make
    for c in clients:
        hub.clients.remove(c)
        c.close(linger=0)


def stores(hub):
    return hub.db != "nodb"


def expect_nodata(f, *args, **kwargs):
    with pytest.raises(error.RemoteError) as excinfo:
        f(*args, **kwargs)
    assert excinfo.value.ename == "NoData"
    assert "NoDB backend doesn't store any data" in excinfo.value.evalue


def hub_status(client, ids):
    """result_status, or empty lists while the hub has not yet seen the requests."""
    try:
        return client.result_status(ids)
    except error.RemoteError as e:
        if "No such message" not in e.evalue:
            raise
        return {"pending": [], "completed": []}


def run_some(rc):
    """One direct apply, one load-balanced apply, one execute with output; all finished."""
    ar = rc[0].apply_async(double, 21)
    lar = rc.load_balanced_view().apply_async(double, "lb")
    ex = rc[1].execute("print('hub sees this')", block=False)
    assert ar.get(timeout=scaled(30)) == 42
    assert lar.get(timeout=scaled(30)) == "lblb"
    ex.get(timeout=scaled(30))
    return ar.msg_ids[0], lar.msg_ids[0], ex.msg_ids[0]


def test_sqlite_file(hub):
    if hub.db == "sqlitedb":
        assert (hub.profile_dir / "tasks.db").is_file()
    else:
        assert not (hub.profile_dir / "tasks.db").exists()


def test_queue_status(hub, rc):
    before = rc.queue_status()
    assert set(before) == {0, 1, "unassigned"}
    assert before["unassigned"] == 0
    for eid in (0, 1):
        assert set(before[eid]) == {"queue", "completed", "tasks"}
    direct_id, lb_id, exec_id = run_some(rc)

    def completed_counts_grew():
        qs = rc.queue_status()
        grown = qs[0]["completed"] + qs[1]["completed"] >= before[0]["completed"] + before[1]["completed"] + 3
        return qs if grown else None

    qs = wait_for(completed_counts_grew, 10, message="hub to record completions")
    assert qs[0]["queue"] == 0 and qs[1]["queue"] == 0

    verbose = rc.queue_status(verbose=True)
    all_completed = verbose[0]["completed"] + verbose[1]["completed"]
    assert {direct_id, lb_id, exec_id} <= set(all_completed)
    assert direct_id in verbose[0]["completed"]
    assert exec_id in verbose[1]["completed"]
    assert verbose["unassigned"] == []

    # a pending direct task shows in its engine's queue, a load-balanced one under tasks
    slow = rc[0].apply_async(nap, 1.5)
    lb_slow = rc.load_balanced_view(targets=[1]).apply_async(nap, 1.5)
    qs = wait_for(
        lambda: (lambda q: q if q[0]["queue"] == 1 and q[1]["tasks"] == 1 else None)(rc.queue_status()),
        10,
        message="pending tasks in queue_status",
    )
    single = rc.queue_status(targets=0)  # an int target gives that engine's entry only
    assert set(single) == {"queue", "completed", "tasks"}
    assert single["queue"] in (0, 1)
    assert slow.msg_ids[0] in rc.queue_status(targets=[0], verbose=True)[0]["queue"]
    slow.get(timeout=scaled(30))
    lb_slow.get(timeout=scaled(30))
    wait_for(lambda: rc.queue_status()[0]["queue"] == 0 and rc.queue_status()[1]["tasks"] == 0, 10)


def test_hub_counts_a_task_once_its_result_is_in(hub, rc):
    """A client holding a load-balanced result asks the hub at once: the task is completed.

    Our hub takes in the schedulers' task copies in batches, and reads the waiting ones before
    answering any query, so its answer is already current. Python's hub reads them concurrently
    with queries, so for it the test waits for the count instead.
    """
    lv = rc.load_balanced_view()
    current_at_once = hub.impl.controller == "cpp"
    for i in range(20):
        before = rc.queue_status()
        done_before = before[0]["completed"] + before[1]["completed"]
        ar = lv.apply_async(double, i)
        assert ar.get(timeout=scaled(30)) == 2 * i

        def counted():
            qs = rc.queue_status()
            return qs if qs[0]["completed"] + qs[1]["completed"] == done_before + 1 else None

        qs = counted() if current_at_once else wait_for(counted, 10, message="the hub's count")
        assert qs is not None, f"task {i}: the hub did not count it yet: {rc.queue_status()}"
        assert qs[0]["tasks"] == 0 and qs[1]["tasks"] == 0
        verbose = rc.queue_status(verbose=True)
        assert ar.msg_ids[0] in verbose[0]["completed"] + verbose[1]["completed"]


def test_result_status_and_get_result_from_another_client(hub, rc, fresh_client):
    direct_id, lb_id, exec_id = run_some(rc)
    ids = [direct_id, lb_id, exec_id]
    other = fresh_client()
    wait_for(lambda: set(hub_status(other, ids)["completed"]) == set(ids), 10, message="results completed")
    status = other.result_status(ids)
    assert status["pending"] == []
    with pytest.raises(error.RemoteError) as excinfo:
        other.result_status(["no-such-msg-id"])
    assert excinfo.value.ename == "KeyError"
    assert "No such message: no-such-msg-id" in excinfo.value.evalue

    if not stores(hub):
        expect_nodata(other.result_status, ids, status_only=False)
        expect_nodata(lambda: other.get_result(direct_id).get(timeout=scaled(10)))
        return

    full = other.result_status(ids, status_only=False)
    assert full[direct_id] == 42
    assert full[lb_id] == "lblb"
    assert other.get_result(direct_id).get(timeout=scaled(10)) == 42
    assert fresh_client().get_result(lb_id).get(timeout=scaled(10)) == "lblb"
    har = fresh_client().get_result(exec_id)
    har.get(timeout=scaled(10))
    assert har.stdout == "hub sees this\n"

    # a task still running is reported pending, then completes through the hub
    slow = rc[0].apply_async(nap, 1.0)
    watcher = fresh_client()
    wait_for(lambda: slow.msg_ids[0] in hub_status(watcher, slow.msg_ids)["pending"], 10)
    assert watcher.get_result(slow.msg_ids[0]).get(timeout=scaled(30)) == 1.0
    assert watcher.result_status(slow.msg_ids)["completed"] == slow.msg_ids


def test_db_query(hub, rc):
    direct_id, lb_id, exec_id = run_some(rc)
    ids = [direct_id, lb_id, exec_id]
    if not stores(hub):
        expect_nodata(rc.db_query, {"msg_id": {"$in": ids}})
        return

    def query():
        recs = rc.db_query({"msg_id": {"$in": ids}}, keys=["msg_id", "completed", "engine_uuid", "queue", "stdout"])
        return recs if len(recs) == 3 and all(r["completed"] for r in recs) else None

    records = {r["msg_id"]: r for r in wait_for(query, 10, message="records in the DB")}
    assert set(records) == set(ids)
    for r in records.values():
        assert set(r) == {"msg_id", "completed", "engine_uuid", "queue", "stdout"}
    assert records[direct_id]["queue"] == "mux"
    assert records[lb_id]["queue"] == "task"
    assert records[direct_id]["engine_uuid"] == rc._engines[0]
    assert records[exec_id]["engine_uuid"] == rc._engines[1]
    # a load-balanced task's destination, which the scheduler reports to the hub
    assert records[lb_id]["engine_uuid"] in set(rc._engines.values())
    wait_for(
        lambda: rc.db_query({"msg_id": exec_id}, keys=["stdout"])[0]["stdout"] == "hub sees this\n",
        10,
        message="stdout stored",
    )

    # buffers come back as message frames, in record order
    recs = rc.db_query({"msg_id": direct_id}, keys=["buffers", "result_buffers"])
    assert len(recs) == 1
    assert len(recs[0]["buffers"]) >= 2  # pickled function, args, kwargs
    assert len(recs[0]["result_buffers"]) >= 1
    from ipyparallel.serialize import deserialize_object

    value, _ = deserialize_object(recs[0]["result_buffers"])
    assert value == 42

    # full records without keys
    rec = rc.db_query({"msg_id": lb_id})[0]
    for key in ("header", "content", "submitted", "started", "completed", "result_content", "client_uuid"):
        assert key in rec
    assert rec["result_content"]["status"] == "ok"
    assert rec["header"]["msg_id"] == lb_id
    # every JSON part of request and reply reads back as a dict
    assert rec["header"]["msg_type"] == "apply_request"
    assert rec["result_header"]["msg_type"] == "apply_reply"
    assert "retries" in rec["metadata"]
    assert rec["result_metadata"]["engine"] == rec["engine_uuid"]
    assert rec["result_metadata"]["status"] == "ok"

    # comparison operators on dates
    t = rec["submitted"]
    later = rc.db_query({"submitted": {"$gte": t}, "msg_id": {"$in": ids}}, keys=["msg_id"])
    assert lb_id in {r["msg_id"] for r in later}

    with pytest.raises(error.RemoteError) as excinfo:
        rc.db_query({"msg_id": {"$bogus": 1}})
    assert excinfo.value.ename == "KeyError"
    assert "$bogus" in excinfo.value.evalue


def test_hub_history(hub, rc):
    if not stores(hub):
        expect_nodata(rc.hub_history)
        return
    first = rc.hub_history()
    direct_id, lb_id, exec_id = run_some(rc)
    history = wait_for(lambda: (lambda h: h if exec_id in h else None)(rc.hub_history()), 10)
    assert history[: len(first)] == first
    new = [m for m in history if m not in first]
    assert set(new) >= {direct_id, lb_id, exec_id}
    assert new.index(direct_id) < new.index(lb_id) < new.index(exec_id)


def test_purge_results(hub, rc, fresh_client):
    direct_id, lb_id, exec_id = run_some(rc)
    other = fresh_client()
    wait_for(lambda: set(hub_status(other, [direct_id, lb_id])["completed"]) == {direct_id, lb_id}, 10)

    slow = rc[0].apply_async(nap, 1.0)
    wait_for(lambda: slow.msg_ids[0] in hub_status(other, slow.msg_ids)["pending"], 10)
    with pytest.raises(error.RemoteError) as excinfo:
        other.purge_results(jobs=slow.msg_ids)
    assert excinfo.value.ename == "IndexError"
    assert "msg pending" in excinfo.value.evalue

    other.purge_results(jobs=[direct_id])
    if stores(hub):
        # the record is gone from the DB; (the hub's in-memory completed set still lists the
        # id, so a status-only query keeps answering "completed" — Python behaviour)
        assert rc.db_query({"msg_id": direct_id}, keys=["msg_id"]) == []
        with pytest.raises(error.RemoteError):
            fresh_client().get_result(direct_id).get(timeout=scaled(10))
        assert fresh_client().get_result(lb_id).get(timeout=scaled(10)) == "lblb"

    slow.get(timeout=scaled(30))
    wait_for(lambda: slow.msg_ids[0] in hub_status(other, slow.msg_ids)["completed"], 10)
    other.purge_results("all")
    if stores(hub):
        assert rc.hub_history() == []
        assert rc.db_query({"msg_id": {"$in": [lb_id, exec_id]}}, keys=["msg_id"]) == []
        with pytest.raises(error.RemoteError):
            fresh_client().get_result(lb_id).get(timeout=scaled(10))
    else:
        expect_nodata(rc.hub_history)
    # the cluster keeps working and recording after a purge
    assert rc[1].apply_sync(double, 5) == 10


def test_resubmit(hub, rc, fresh_client):
    ar = rc[0].apply_async(double, 100)
    assert ar.get(timeout=scaled(30)) == 200
    old_id = ar.msg_ids[0]
    wait_for(lambda: old_id in hub_status(rc, [old_id])["completed"], 10)
    if not stores(hub):
        expect_nodata(rc.resubmit, old_id)
        return
    other = fresh_client()
    har = other.resubmit(old_id)
    assert len(har.msg_ids) == 1 and har.msg_ids[0] != old_id
    assert har.get(timeout=scaled(30)) == [200]
    rec = rc.db_query({"msg_id": old_id}, keys=["resubmitted"])[0]
    assert rec["resubmitted"] == har.msg_ids[0]
    new = rc.db_query({"msg_id": har.msg_ids[0]}, keys=["queue", "completed"])[0]
    assert new["queue"] == "task"
    with pytest.raises(error.RemoteError) as excinfo:
        other.resubmit("no-such-msg-id")
    assert excinfo.value.ename == "KeyError"
