"""Requests signed with the cluster's key but not valid for the port they reach (what a buggy
or outdated client sends): each gets an error reply to its sender, and none of them holds an
engine's slot, so load balancing goes on for everybody. Our controller, with our engines and
with Python's (hwm 1, one engine: a single stuck slot would stop every load-balanced task)."""

from __future__ import annotations

import json

import pytest
import zmq
from jupyter_client.session import Session

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, scaled


def _socket(cluster, port_key: str) -> tuple[zmq.Socket, Session]:
    info = json.loads(cluster.client_file.read_text())
    session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"],
                      username="hostile")
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(f"{info['interface']}:{info[port_key]}")
    return sock, session


def _request(sock, session, msg_type, metadata=None, ident=None, content=None):
    msg = session.msg(msg_type, content=content or {}, metadata=metadata or {})
    session.send(sock, msg, ident=ident)
    if not sock.poll(scaled(10) * 1000):
        raise AssertionError(f"no reply to {msg_type} within {scaled(10)} s")
    _, parts = session.feed_identities(sock.recv_multipart())
    reply = session.deserialize(parts)
    if msg_type != "registration_request":  # answered without a parent, as Python's hub does
        assert reply["parent_header"].get("msg_id") == msg["header"]["msg_id"], reply
    return reply


@pytest.mark.parametrize("engines", ["cpp", "python"])
def test_signed_requests_that_are_not_tasks_are_refused(engines):
    with running_cluster(Impl("cpp", engines), 1, f"hostile-{engines}") as cluster:
        rc = cluster.clients[0]
        view = rc.load_balanced_view()
        sock, session = _socket(cluster, "task")
        try:
            for msg_type, md, ename, says in [
                ("frobnicate_request", {}, "ValueError", "'frobnicate_request'"),
                ("apply_request", {"retries": -1}, "ValueError", "'retries' must be >= 0"),
                ("apply_request", {"timeout": "soon"}, "TypeError", "'timeout'"),
                ("apply_request", {"targets": 7}, "TypeError", "'targets'"),
            ]:
                reply = _request(sock, session, msg_type, md)
                assert reply["msg_type"] == "apply_reply"
                assert reply["content"]["status"] == "error"
                assert reply["content"]["ename"] == ename, reply["content"]
                assert says in reply["content"]["evalue"], reply["content"]
                # and the one engine's slot is free: a real task still runs at once
                assert view.apply_sync(interactive(lambda x: x + 1), 41) == 42
            # targets naming no engine: refused by the scheduler as Python's does
            reply = _request(sock, session, "apply_request", {"targets": ["no-such-engine"]})
            assert reply["content"]["ename"] == "ImpossibleDependency"
            assert view.map_sync(interactive(lambda x: x * 2), range(20)) == [x * 2 for x in range(20)]
        finally:
            sock.close()


def test_our_engine_answers_a_request_it_does_not_handle():
    """Through the mux (direct) port, an unknown request reaches the engine itself: ours
    answers with an error (Python's engine, like ipykernel, only logs it)."""
    with running_cluster(Impl("cpp", "cpp"), 1, "hostile-mux") as cluster:
        rc = cluster.clients[0]
        uuid = rc._engines[rc.ids[0]]
        sock, session = _socket(cluster, "mux")
        try:
            reply = _request(sock, session, "frobnicate_request", ident=uuid.encode())
            assert reply["msg_type"] == "frobnicate_reply"
            assert reply["content"]["status"] == "error"
            assert reply["content"]["ename"] == "ValueError"
            assert rc[:].apply_sync(interactive(lambda: 5)) == [5]
        finally:
            sock.close()


def test_wire_bytes_are_escaped_in_log_lines():
    """An engine uuid with a newline and binary bytes, sent in a signed registration, cannot
    forge a log line or put raw bytes in the log."""
    with running_cluster(Impl("cpp", "cpp"), 1, "hostile-log") as cluster:
        sock, session = _socket(cluster, "registration")
        try:
            evil = "evil\n2026-01-01 00:00:00.000 [IPController] FORGED\x01\x7f"
            reply = _request(sock, session, "registration_request", content={"uuid": evil})
            assert reply["msg_type"] == "registration_reply"
        finally:
            sock.close()
        log = cluster.controller.log_path.read_bytes()
        assert b"FORGED" in log  # it was logged...
        assert not any(line.startswith(b"2026-01-01") for line in log.splitlines())  # ...escaped
        assert b"\x01" not in log and b"\x7f" not in log
        assert rb"evil\x0a2026-01-01" in log


def _signed_raw(session, msg_type, content_bytes):
    """A correctly signed request whose content frame is not JSON."""
    header = json.dumps(session.msg_header(msg_type), default=str).encode()
    parts = [header, b"{}", b"{}", content_bytes]
    return [b"<IDS|MSG>", session.sign(parts)] + parts, json.loads(header)


@pytest.mark.parametrize("engines", ["cpp", "python"])
def test_requests_that_do_not_decode_are_answered_and_hold_no_slot(engines):
    """A signed task request whose content does not decode: the scheduler answers it instead of
    giving it to an engine (which would drop it and hold the slot for good); sent straight to
    our engine through the mux port, the engine answers it with an error."""
    with running_cluster(Impl("cpp", engines), 1, f"undecodable-{engines}") as cluster:
        rc = cluster.clients[0]
        view = rc.load_balanced_view()
        sock, session = _socket(cluster, "task")
        try:
            for _ in range(3):  # one engine, hwm 1: a held slot would stop the next task
                frames, header = _signed_raw(session, "apply_request", b"{not json")
                sock.send_multipart(frames)
                assert sock.poll(scaled(10) * 1000), "no reply to an undecodable task request"
                _, parts = session.feed_identities(sock.recv_multipart())
                reply = session.deserialize(parts)
                assert reply["parent_header"]["msg_id"] == header["msg_id"]
                assert reply["content"]["ename"] == "ValueError", reply["content"]
                assert "cannot be decoded" in reply["content"]["evalue"]
                assert view.apply_sync(interactive(lambda x: x + 1), 1) == 2
        finally:
            sock.close()
        if engines != "cpp":
            return
        uuid = rc._engines[rc.ids[0]]
        sock, session = _socket(cluster, "mux")
        try:
            frames, header = _signed_raw(session, "apply_request", b"[1, 2")
            sock.send_multipart([uuid.encode()] + frames)
            assert sock.poll(scaled(10) * 1000), "our engine did not answer an undecodable request"
            _, parts = session.feed_identities(sock.recv_multipart())
            reply = session.deserialize(parts)
            assert reply["msg_type"] == "apply_reply"
            assert reply["parent_header"]["msg_id"] == header["msg_id"]
            assert reply["content"]["ename"] == "ValueError", reply["content"]
            assert rc[:].apply_sync(interactive(lambda: 5)) == [5]
        finally:
            sock.close()
