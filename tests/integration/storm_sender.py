"""Sends a storm of malformed and hostile messages to every port of a controller that accepts
input, and prints how many of each kind it sent (one JSON object on stdout).

    storm_sender.py <ipcontroller-client.json> <ipcontroller-engine.json> <rounds> [engine-uuid]

One round sends one message of every kind to every port the kind applies to; the kinds are the
ones an attacker on the network or a buggy peer that holds the key can produce:

  bad-signature, missing-signature   well-formed messages signed wrongly / not at all
  replay                             one correctly signed message sent again and again
  truncated                          frames cut short: no delimiter, too few frames, cut JSON
  invalid-json                       correctly signed, the JSON frames do not parse
  wrong-types                        correctly signed, a header or content field of the wrong type
  unknown-engine                     correctly signed, addressed to or coming from no engine
  unknown-type                       correctly signed, a msg_type nobody handles
  hostile-content                    correctly signed requests that make no sense (negative
                                     retries, dependencies on nothing, a uuid in use)
  huge-frame                         a frame of tens of MiB (sent every `HUGE_EVERY` rounds)

Sends block for at most a few seconds (high-water marks); a send that times out is counted
under "not-sent". Replies are read and thrown away so they do not pile up.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import zmq

from rawwire import DELIM, Signer

HUGE = 24 * 1024 * 1024
HUGE_EVERY = 25


class Storm:
    def __init__(self, client_info: dict, engine_info: dict, engine_uuid: str):
        self.ci, self.ei = client_info, engine_info
        self.signer = Signer(client_info["key"], client_info["signature_scheme"])
        self.forger = Signer("not-the-key-" + client_info["key"], client_info["signature_scheme"])
        self.engine_uuid = engine_uuid.encode()
        self.ctx = zmq.Context()
        self.sent: Counter = Counter()
        iface = client_info["interface"]
        # (name, socket): every port that reads what a peer sends
        self.ports: list[tuple[str, zmq.Socket]] = []
        for name in ("registration", "mux", "control", "task", "broadcast"):
            self.ports.append((f"client-{name}", self._socket(zmq.DEALER, f"{iface}:{client_info[name]}")))
        for name in ("mux", "control", "task"):
            self.ports.append((f"engine-{name}", self._socket(zmq.DEALER, f"{iface}:{engine_info[name]}", b"no-such-engine")))
        for i, port in enumerate(engine_info["broadcast"]):
            self.ports.append((f"engine-broadcast{i}", self._socket(zmq.DEALER, f"{iface}:{port}", b"no-such-engine")))
        self.ports.append(("engine-hb_pong", self._socket(zmq.DEALER, f"{iface}:{engine_info['hb_pong']}")))
        self.iopub = self._socket(zmq.PUB, f"{iface}:{engine_info['iopub']}")
        self.ports.append(("engine-iopub", self.iopub))
        # one captured good message, replayed
        self.replayed, _ = self.signer.frames("connection_request")
        self.captured_task = None

    def _socket(self, kind, url, identity=None):
        s = self.ctx.socket(kind)
        s.linger = 0
        s.sndtimeo = 5000
        s.rcvhwm = 100
        if identity is not None:
            s.identity = identity
        s.connect(url)
        return s

    def send(self, kind: str, sock: zmq.Socket, frames: list[bytes]) -> None:
        try:
            sock.send_multipart(frames)
            self.sent[kind] += 1
        except zmq.Again:
            self.sent["not-sent"] += 1

    def drain(self) -> None:
        for _, s in self.ports:
            if s.socket_type == zmq.PUB:
                continue
            while s.poll(0):
                s.recv_multipart()

    # -- the kinds ------------------------------------------------------------------------------
    def idents(self, port: str) -> list[bytes]:
        # what a client puts in front of a message for the mux/control relays: the engine
        return [self.engine_uuid] if port in ("client-mux", "client-control") else []

    def msg_type(self, port: str) -> str:
        if port in ("client-registration",):
            return "connection_request"
        if port.startswith("engine-") and port != "engine-iopub":
            return "apply_reply"
        if port == "engine-iopub":
            return "stream"
        return "apply_request"

    def round(self, n: int) -> None:
        for port, s in self.ports:
            pre = self.idents(port)
            t = self.msg_type(port)
            topic = [b"engine.0.stream"] if port == "engine-iopub" else []
            head = topic + pre
            frames, _ = self.forger.frames(t, idents=head)
            self.send("bad-signature", s, frames)
            self.send("missing-signature", s, self.signer.frames(t, idents=head, signature=b"")[0])
            if port == "client-registration":
                self.send("replay", s, self.replayed)
            elif port == "client-task":
                if self.captured_task is None:
                    self.captured_task = self.signer.frames("apply_request", content={})[0]
                self.send("replay", s, self.captured_task)
            else:
                good, _ = self.signer.frames(t, idents=head)
                self.send("replay", s, good)
                self.send("replay", s, good)
            good, _ = self.signer.frames(t, idents=head)
            k = len(head)
            cut = [good[: k + 3], head + good[k + 1 :], head + [DELIM], head + [b"\x00\xff" * (n % 7)],
                   good[: k + 2] + [good[k + 2][: len(good[k + 2]) // 2]] + good[k + 3 :]]
            self.send("truncated", s, cut[n % len(cut)])
            bad_json = [b"{not json", b"\xff\xfe", b"[1, 2", b'"a string"', b"{}" * 1000]
            self.send("invalid-json", s, self.signer.frames(t, idents=head, raw_content=bad_json[n % 5])[0])
            self.send("invalid-json", s, self.signer.frames(t, idents=head, raw_header=bad_json[(n + 1) % 5])[0])
            for field, value in (("msg_id", 7), ("session", ["x"]), ("msg_type", None), ("date", {}),
                                 ("username", 3.5)):
                h = self.signer.header(t)
                h[field] = value
                self.send("wrong-types", s, self.signer.frames(t, idents=head, header=h)[0])
            self.send("unknown-type", s, self.signer.frames("frobnicate_request", idents=head)[0])
        self.hub_round(n)
        self.task_round(n)
        self.engine_round(n)
        if n % HUGE_EVERY == 0:
            port, s = self.ports[(n // HUGE_EVERY) % len(self.ports)]
            huge = b"\x00" * HUGE
            self.send("huge-frame", s, self.signer.frames(self.msg_type(port), idents=self.idents(port), buffers=[huge])[0])
        self.drain()

    def hub_round(self, n: int) -> None:
        s = dict(self.ports)["client-registration"]
        bad_contents = [
            ("queue_request", {"targets": "all", "verbose": "yes"}),
            ("queue_request", {"targets": [99999]}),
            ("result_request", {"msg_ids": 5}),
            ("result_request", {"msg_ids": ["no-such-task"], "status_only": "x"}),
            ("db_request", {"query": []}),
            ("db_request", {"query": {"msg_id": {"$frob": 1}}, "keys": 3}),
            ("purge_request", {"msg_ids": {}, "engine_ids": "x"}),
            ("resubmit_request", {"msg_ids": 1}),
            ("resubmit_request", {"msg_ids": ["no-such-task"]}),
            ("history_request", {"x": [1] * 100}),
            ("registration_request", {"uuid": 5}),
            ("unregistration_request", {"id": "zero"}),
            ("unregistration_request", {"id": 99999}),
            ("shutdown_request", {"really": "no"}),  # refused: wrong content
        ]
        msg_type, content = bad_contents[n % len(bad_contents)]
        if msg_type == "shutdown_request":
            msg_type, content = "connection_request", {"x": {"y": [None] * 50}}
        kind = "unknown-engine" if "99999" in json.dumps(content) else "hostile-content"
        self.send(kind, s, self.signer.frames(msg_type, content=content)[0])
        # a registration that takes the uuid of an engine that is up
        self.send("hostile-content", s, self.signer.frames("registration_request", content={"uuid": self.engine_uuid.decode()})[0])

    def task_round(self, n: int) -> None:
        s = dict(self.ports)["client-task"]
        hostile_md = [
            {"retries": -1}, {"timeout": "soon"}, {"targets": 7}, {"targets": ["no-such-engine"]},
            {"after": 5}, {"follow": {"a": 1}}, {"after": ["no-such-task"], "follow": ["x"], "retries": 10 ** 30},
        ]
        md = hostile_md[n % len(hostile_md)]
        kind = "unknown-engine" if md.get("targets") == ["no-such-engine"] else "hostile-content"
        self.send(kind, s, self.signer.frames("apply_request", metadata=md)[0])
        # a direct request to no engine on the mux port
        mux = dict(self.ports)["client-mux"]
        self.send("unknown-engine", mux, self.signer.frames("apply_request", idents=[b"no-such-engine"])[0])

    def engine_round(self, n: int) -> None:
        # correctly signed replies from an identity that is no engine, to tasks nobody sent
        for port in ("engine-task", "engine-mux", "engine-control"):
            s = dict(self.ports)[port]
            frames, _ = self.signer.frames("apply_reply", idents=[b"some-client"], parent={"msg_id": f"no-such-task-{n}"},
                                           metadata={"status": "ok", "engine": "no-such-engine"}, content={"status": "ok"})
            self.send("unknown-engine", s, frames)
        pong = dict(self.ports)["engine-hb_pong"]
        self.send("unknown-engine", pong, [b"no-such-engine", b"%d" % n])
        self.send("truncated", pong, [b"x"] * (n % 4 + 3))

    def close(self):
        for _, s in self.ports:
            s.close(0)
        self.ctx.term()


def main(argv: list[str]) -> int:
    client_info = json.loads(open(argv[1]).read())
    engine_info = json.loads(open(argv[2]).read())
    rounds = int(argv[3])
    storm = Storm(client_info, engine_info, argv[4] if len(argv) > 4 else "no-engine")
    time.sleep(0.3)  # connections up
    start = time.monotonic()
    for n in range(rounds):
        storm.round(n)
    elapsed = time.monotonic() - start
    storm.close()
    out = dict(sorted(storm.sent.items()))
    out["total"] = sum(v for k, v in storm.sent.items() if k != "not-sent")
    out["seconds"] = round(elapsed, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
