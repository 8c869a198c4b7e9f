"""Decodes messages built by the C++ Session with jupyter_client's Session.deserialize.

Reads a JSON list of {"key", "scheme", "frames": [base64...]} from the file named on the command
line and prints, for each, the decoded header, parent, metadata, content and buffers (or the
error Session raised).
"""
import base64
import json
import sys

from jupyter_client.session import Session


def main():
    cases = json.load(open(sys.argv[1]))
    out = []
    for case in cases:
        session = Session(key=case["key"].encode(), signature_scheme=case["scheme"])
        frames = [base64.b64decode(f) for f in case["frames"]]
        try:
            idents, rest = session.feed_identities(frames, copy=True)
            msg = session.deserialize(rest, content=True, copy=True)
            out.append(
                {
                    "ok": True,
                    "identities": [base64.b64encode(i).decode() for i in idents],
                    "header": json.loads(json.dumps(msg["header"], default=str)),
                    "parent_header": json.loads(json.dumps(msg["parent_header"], default=str)),
                    "metadata": msg["metadata"],
                    "content": msg["content"],
                    "buffers": [base64.b64encode(bytes(b)).decode() for b in msg["buffers"]],
                }
            )
        except Exception as e:  # report, the C++ test decides
            out.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
