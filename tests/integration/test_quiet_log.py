"""A healthy run logs no ERROR: 2,000 load-balanced tasks with the in-memory store bounded to 100
records, so most records are culled while their tasks are still queued and their results, output
and destinations arrive for records that are gone. Python's controller logs one
``db::DB Error (update) ... has been culled for size`` per such result; ours drops them quietly
(at DEBUG) and still delivers every result.

Our controller only (the point is its log), with our engines and with Python's."""

import re

import pytest

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl

N_TASKS = 2_000
RECORD_LIMIT = 100


@interactive
def chatty_double(x):
    print("working on", x)
    return 2 * x


@pytest.mark.parametrize("engines", ["cpp", "python"])
def test_culled_records_log_no_error(engines):
    args = [f"--DictDB.record_limit={RECORD_LIMIT}"]
    with running_cluster(Impl("cpp", engines), 2, f"quiet-{engines}", controller_args=args) as c:
        rc = c.clients[0]
        view = rc.load_balanced_view()
        ar = view.map_async(chatty_double, range(N_TASKS), chunksize=1)
        assert ar.get(timeout=120) == [2 * x for x in range(N_TASKS)]
        # the store really was bounded: the oldest records are gone
        first = ar.msg_ids[0]
        other = c.connect()  # no local copy of the results: the hub answers
        with pytest.raises(Exception, match="culled for size"):
            other.get_result(first).get(timeout=10)
        assert len(other.hub_history()) <= RECORD_LIMIT
        log = c.controller.log_path.read_text(errors="replace")
        errors = [line for line in log.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b|\[E ", line)]
        assert errors == [], "\n".join(errors[:20])
