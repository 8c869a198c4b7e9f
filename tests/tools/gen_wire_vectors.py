"""Golden wire vectors made by jupyter_client's own Session.

Prints a JSON list of cases; each case has the key, the signature scheme, the frames Session
produced (base64) and the values that went in, so the C++ decoder can be checked byte for byte
against the reference implementation.
"""
import base64
import json
import sys

from jupyter_client.session import Session


def b64(b):
    return base64.b64encode(b).decode("ascii")


def main():
    cases = []
    keys = [
        ("40cf50c9-c2a1978fa457f86a9f60be94", "hmac-sha256"),
        ("another key with spaces", "hmac-sha256"),
        ("k" * 100, "hmac-sha512"),
        ("short", "hmac-sha1"),
        ("", "hmac-sha256"),
    ]
    contents = [
        ("apply_request", {}, [b"\x80\x04K\x15.", b"\x00" * 2000]),
        ("execute_request", {"code": "print('héllo wörld ✓ 日本')", "silent": False}, []),
        ("queue_request", {"targets": None, "verbose": True}, []),
        ("stream", {"name": "stdout", "text": "emoji \U0001F600 and tab\t\n"}, []),
        ("result_request", {"msg_ids": ["a", "b"], "status_only": False, "n": 1.5}, [b"x"]),
    ]
    for key, scheme in keys:
        session = Session(key=key.encode(), signature_scheme=scheme, username="username")
        for i, (msg_type, content, buffers) in enumerate(contents):
            parent = session.msg_header("parent_" + msg_type) if i % 2 else {}
            metadata = {"targets": ["x"], "retries": i} if i % 3 == 0 else {}
            msg = session.msg(msg_type, content=content, parent=parent, metadata=metadata)
            idents = [b"engine-uuid", b"\x00\xf4\xb0\xdcQ"][: i % 3]
            frames = session.serialize(msg, ident=idents)
            frames = frames + list(buffers)
            cases.append(
                {
                    "key": key,
                    "scheme": scheme,
                    "identities": [b64(x) for x in idents],
                    "frames": [b64(f) for f in frames],
                    "msg_id": msg["header"]["msg_id"],
                    "msg_type": msg_type,
                    "session": session.session,
                    "content": content,
                    "metadata": metadata,
                    "parent_msg_id": parent.get("msg_id", None) if parent else None,
                    "buffers": [b64(b) for b in buffers],
                }
            )
    json.dump(cases, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()
