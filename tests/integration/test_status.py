"""The controller's status endpoint and `ipcluster status`, against a real Python client.

`ipcontroller --status-port=0` serves `/metrics`, `/api/status` and `/` and writes where in
`security/ipcontroller-status.json`. Asserted: the Prometheus text parses with Debian's
prometheus_client and its counters are what the client did (tasks per kind, failures, retries,
durations, engines, queues); `/api/status` and `ipcluster status --json` tell the same; a
binding beyond loopback refuses requests without the token; `ipcluster status` names Python's
controller as the reason when it cannot answer; bad settings are refused at start-up.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, cpp_binary, scaled, wait_for

LB_OK = 40
LB_FAIL = 5
LB_RETRIED = 3


@interactive
def square(x):
    return x * x


@interactive
def divide_by_zero(x):
    return x / 0


@interactive
def whoami():
    import os
    return os.getpid()


def status_file(cluster) -> dict:
    path = cluster.security_dir / "ipcontroller-status.json"
    wait_for(path.exists, scaled(10), message="ipcontroller-status.json")
    return json.loads(path.read_text())


def get(url: str, token: str | None = None, header: bool = True):
    req = urllib.request.Request(url)
    if token is not None and header:
        req.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def samples(text: str) -> dict:
    """{(sample name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(metrics: dict, name: str, **labels):
    return metrics[(name, frozenset(labels.items()))]


def ipcluster_status(cluster, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(cpp_binary("ipcluster")), "status", f"--profile-dir={cluster.profile_dir}", *args],
        capture_output=True, text=True, env=cluster.env, timeout=30)


def run_workload(rc):
    lview = rc.load_balanced_view()
    assert lview.map_sync(square, range(LB_OK)) == [x * x for x in range(LB_OK)]
    for i in range(LB_FAIL):
        with pytest.raises(Exception, match="ZeroDivisionError"):
            lview.apply_sync(divide_by_zero, i)
    retrying = rc.load_balanced_view()
    retrying.retries = 1
    for i in range(LB_RETRIED):
        with pytest.raises(Exception, match="ZeroDivisionError"):
            retrying.apply_sync(divide_by_zero, i)
    pids = rc[:].apply_sync(whoami)
    assert len(set(pids)) == 2
    assert rc[0].apply_sync(square, 7) == 49


def test_metrics_and_status_count_what_the_client_did():
    with running_cluster(Impl("cpp", "cpp"), 2, "status",
                         controller_args=["--status-port=0"]) as cluster:
        info = status_file(cluster)
        assert info["ip"] == "127.0.0.1" and info["token"] == ""
        assert (cluster.security_dir / "ipcontroller-status.json").stat().st_mode & 0o077 == 0
        base = info["url"]
        rc = cluster.clients[0]
        run_workload(rc)
        lb = LB_OK + LB_FAIL + LB_RETRIED
        direct = 3

        status, ctype, text = get(base + "metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        m = samples(text)
        assert value(m, "ipp_engines") == 2
        assert value(m, "ipp_tasks_submitted_total", kind="load_balanced") == lb
        assert value(m, "ipp_tasks_completed_total", kind="load_balanced") == lb
        assert value(m, "ipp_tasks_failed_total", kind="load_balanced") == LB_FAIL + LB_RETRIED
        assert value(m, "ipp_tasks_submitted_total", kind="direct") == direct
        assert value(m, "ipp_tasks_completed_total", kind="direct") == direct
        assert value(m, "ipp_tasks_failed_total", kind="direct") == 0
        assert value(m, "ipp_tasks_retried_total") == LB_RETRIED
        assert value(m, "ipp_tasks_waiting") == 0
        assert value(m, "ipp_tasks_running") == 0
        assert value(m, "ipp_task_duration_seconds_count") == lb + direct
        assert value(m, "ipp_task_duration_seconds_bucket", le="+Inf") == lb + direct
        assert 0 < value(m, "ipp_task_duration_seconds_sum") < 60
        for eid in rc.ids:
            assert value(m, "ipp_engine_queue_depth", engine=str(eid), host="127.0.0.1") == 0
        # received: each request from the client, each reply from an engine (a retried task
        # sends one more reply: the failed run's)
        assert value(m, "ipp_messages_total", channel="task") == 2 * lb + LB_RETRIED
        assert value(m, "ipp_messages_total", channel="mux") == 2 * direct
        assert value(m, "ipp_messages_total", channel="registration") >= 3
        assert value(m, "ipp_task_records") == lb + direct
        assert value(m, "ipp_controller_resident_memory_bytes") > 1024 * 1024
        assert value(m, "ipp_controller_cpu_seconds_total") > 0

        status, ctype, text = get(base + "api/status")
        assert status == 200 and ctype == "application/json"
        st = json.loads(text)
        assert st["version"] == 1
        assert st["controller"]["pid"] == cluster.controller.pid
        assert st["controller"]["store"] == "DictDB"
        assert sorted(e["id"] for e in st["engines"]) == sorted(rc.ids)
        assert {e["host"] for e in st["engines"]} == {"127.0.0.1"}
        assert {e["state"] for e in st["engines"]} == {"idle"}
        assert sum(e["completed"] for e in st["engines"]) == lb + direct
        assert sum(e["failed"] for e in st["engines"]) == LB_FAIL + LB_RETRIED
        assert st["tasks"]["submitted"] == {"load_balanced": lb, "direct": direct}
        assert st["tasks"]["retried"] == LB_RETRIED
        failures = st["failures"]
        assert len(failures) == LB_FAIL + LB_RETRIED
        assert {f["ename"] for f in failures} == {"ZeroDivisionError"}
        assert all(f["engine_id"] in rc.ids for f in failures)
        # a point every 2 s: the newest soon shows both engines and every result
        def newest_point():
            p = json.loads(get(base + "api/status")[2])["throughput"][-1]
            return (p["engines"], p["completed"], p["waiting"]) == (2, lb + direct, 0)

        wait_for(newest_point, scaled(10), message="a throughput point with both engines")
        assert st["adaptive"] == {"enabled": False}

        status, ctype, page = get(base)
        assert status == 200 and ctype.startswith("text/html") and "api/status" in page

        out = ipcluster_status(cluster, "--json")
        assert out.returncode == 0, out.stderr
        cli = json.loads(out.stdout)
        assert cli["tasks"]["submitted"] == st["tasks"]["submitted"]
        assert cli["tasks"]["failed"] == st["tasks"]["failed"]
        assert len(cli["engines"]) == 2
        out = ipcluster_status(cluster)
        assert out.returncode == 0, out.stderr
        assert "Engines: 2 (0 busy, 2 idle)" in out.stdout
        assert "ZeroDivisionError" in out.stdout
        assert "Adaptive: off" in out.stdout


def test_a_binding_beyond_loopback_requires_the_token():
    with running_cluster(Impl("cpp", "cpp"), 0, "status-token",
                         controller_args=["--status-port=0", "--status-ip=0.0.0.0"]) as cluster:
        info = status_file(cluster)
        token = info["token"]
        assert len(token) >= 32
        base = f"http://127.0.0.1:{info['port']}/"
        for path in ("metrics", "api/status", ""):
            with pytest.raises(urllib.error.HTTPError) as refused:
                get(base + path)
            assert refused.value.code == 401
            with pytest.raises(urllib.error.HTTPError) as wrong:
                get(base + path, token="x" * len(token))
            assert wrong.value.code == 401
            assert get(base + path, token=token)[0] == 200
        assert get(f"{base}api/status?token={token}", token=token, header=False)[0] == 200
        # the token is in the controller's log only inside the dashboard's address
        log = cluster.controller.log_path.read_text()
        assert f"?token={token}" in log


def test_a_configured_token_is_required_on_loopback_too():
    with running_cluster(Impl("cpp", "cpp"), 0, "status-token2",
                         controller_args=["--status-port=0",
                                          "--IPController.status_token=s3cret"]) as cluster:
        info = status_file(cluster)
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(info["url"].split("?")[0] + "metrics")
        assert refused.value.code == 401
        assert get(info["url"].split("?")[0] + "metrics", token="s3cret")[0] == 200


def test_ipcluster_status_names_a_python_controller():
    with running_cluster(Impl("python", "python"), 0, "status-py") as cluster:
        out = ipcluster_status(cluster)
        assert out.returncode == 1
        assert "Python's ipcontroller has none" in out.stderr


def test_ipcluster_status_without_a_cluster(tmp_path):
    out = subprocess.run(
        [str(cpp_binary("ipcluster")), "status", f"--profile-dir={tmp_path}"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "ipcontroller-client.json" in out.stderr and "no cluster" in out.stderr


@pytest.mark.parametrize("args, message", [
    (["--status-port=70000"], "IPController.status_port: not a port: 70000"),
    (["--status-port=0", "--status-ip=192.0.2.1"], "IPController.status_port: cannot listen on 192.0.2.1"),
])
def test_bad_status_settings_are_refused_at_start(tmp_path, args, message):
    out = subprocess.run(
        [str(cpp_binary("ipcontroller")), f"--profile-dir={tmp_path}", *args],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert message in out.stderr


@interactive
def nap_pid(x):
    import os
    import time
    time.sleep(0.05)
    return os.getpid()


def drain(rc, ids, on=True):
    # through the client's IO thread, which owns the query socket (as queue_status does)
    msg = rc._send_recv(rc._query_stream, "drain_request", content={"engine_ids": ids, "drain": on})
    assert msg["msg_type"] == "drain_reply", msg
    return msg["content"]


def test_a_drained_engine_gets_no_new_task_until_put_back():
    with running_cluster(Impl("cpp", "cpp"), 2, "drain",
                         controller_args=["--status-port=0"]) as cluster:
        base = status_file(cluster)["url"]
        rc = cluster.clients[0]
        first, second = rc.ids
        pids = dict(zip(rc.ids, rc[:].apply_sync(whoami)))
        reply = drain(rc, [first, 99])
        assert reply["draining"] == [first] and reply["unknown"] == [99]
        states = {e["id"]: e["state"] for e in json.loads(get(base + "api/status")[2])["engines"]}
        assert states == {first: "draining", second: "idle"}
        lview = rc.load_balanced_view()
        assert set(lview.map_sync(nap_pid, range(20))) == {pids[second]}
        # direct work still reaches it
        assert rc[first].apply_sync(whoami) == pids[first]
        assert drain(rc, [first], on=False)["draining"] == []
        assert set(lview.map_sync(nap_pid, range(20))) == {pids[first], pids[second]}
