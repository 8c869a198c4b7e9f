"""Hand-built wire messages for poking controller ports with pyzmq.

Builds jupyter-protocol multipart messages (``[idents..., DELIM, sig, header, parent, metadata,
content, buffers...]``) with full control over every frame, so that tests can send correctly
signed garbage as well as wrongly signed good messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Optional

import zmq

DELIM = b"<IDS|MSG>"


class Signer:
    def __init__(self, key: str, scheme: str = "hmac-sha256"):
        self.key = key.encode()
        assert scheme.startswith("hmac-")
        self.digest = getattr(hashlib, scheme[len("hmac-") :])
        self.session = str(uuid.uuid4())
        self.counter = 0

    def sign(self, *frames: bytes) -> bytes:
        if not self.key:
            return b""
        h = hmac.new(self.key, digestmod=self.digest)
        for f in frames:
            h.update(f)
        return h.hexdigest().encode()

    def header(self, msg_type: str, **overrides) -> dict:
        self.counter += 1
        h = {
            "msg_id": f"{self.session}_{self.counter}",
            "msg_type": msg_type,
            "username": "itest",
            "session": self.session,
            "date": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "version": "5.3",
        }
        h.update(overrides)
        return h

    def frames(
        self,
        msg_type: str = "connection_request",
        content=None,
        metadata=None,
        parent=None,
        idents=(),
        buffers=(),
        header: Optional[dict] = None,
        raw_header: Optional[bytes] = None,
        raw_content: Optional[bytes] = None,
        signature: Optional[bytes] = None,
    ) -> tuple[list[bytes], dict]:
        """A message as frames (signed over whatever bytes end up in the four JSON frames)."""
        hdr = header if header is not None else self.header(msg_type)
        h = raw_header if raw_header is not None else json.dumps(hdr).encode()
        p = json.dumps(parent or {}).encode()
        m = json.dumps(metadata or {}).encode()
        c = raw_content if raw_content is not None else json.dumps(content or {}).encode()
        sig = self.sign(h, p, m, c) if signature is None else signature
        return [*idents, DELIM, sig, h, p, m, c, *buffers], hdr


def parse(frames: list[bytes]) -> tuple[list[bytes], dict]:
    """Split a received message into (identities, {header, parent_header, metadata, content})."""
    i = frames.index(DELIM)
    h, p, m, c = (json.loads(f) for f in frames[i + 2 : i + 6])
    return frames[:i], {"header": h, "parent_header": p, "metadata": m, "content": c, "buffers": frames[i + 6 :]}


class Poker:
    """A set of sockets for talking to one cluster's ports; closes everything on exit."""

    def __init__(self, interface: str = "tcp://127.0.0.1"):
        self.ctx = zmq.Context()
        self.interface = interface
        self.sockets: list[zmq.Socket] = []

    def socket(self, kind: int, port: int, identity: Optional[bytes] = None) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        s.rcvtimeo = 0
        if identity is not None:
            s.identity = identity
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(f"{self.interface}:{port}")
        self.sockets.append(s)
        return s

    @staticmethod
    def recv(s: zmq.Socket, timeout: float) -> Optional[list[bytes]]:
        if s.poll(int(timeout * 1000), zmq.POLLIN):
            return s.recv_multipart()
        return None

    @staticmethod
    def recv_all(s: zmq.Socket, timeout: float) -> list[list[bytes]]:
        """Every message arriving within ``timeout`` seconds."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not s.poll(int(left * 1000), zmq.POLLIN):
                return out
            out.append(s.recv_multipart())

    def close(self):
        for s in self.sockets:
            s.close(linger=0)
        self.ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def raw_tcp(port: int, payload: bytes, host: str = "127.0.0.1", read_timeout: float = 0.2) -> bytes:
    """Open a plain TCP connection, send ``payload``, read whatever comes back, close."""
    with socket.create_connection((host, port), timeout=2) as s:
        try:
            s.sendall(payload)
        except OSError:
            return b""
        s.settimeout(read_timeout)
        data = b""
        try:
            while len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, OSError):
            pass
        return data
