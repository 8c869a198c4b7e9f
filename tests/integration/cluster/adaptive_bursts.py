"""The client side of the adaptive-engine tests: a Python script that sends bursts of 50 ms
load-balanced tasks, samples how many engines the client sees (every 0.2 s), and after each
burst waits (up to 60 s) for the cluster to shrink back to one engine.

It prints one line per burst, `BURST <name> <json>`, with: ok (every result right), hosts (the
engines' host names), peak (most engines seen during the burst), seconds, after_idle (engines
left) and shrink_seconds; then `RESULT <json>` with all of them. With `pause_dir`, it waits
after each burst for a file `go-<name>` there (the test looks at the hosts meanwhile).
"""

from __future__ import annotations

import json
import textwrap

_SCRIPT = textwrap.dedent("""
    import json, os, socket, threading, time
    import ipyparallel as ipp
    from ipyparallel import interactive

    @interactive
    def work(x):
        import socket, time
        time.sleep(0.05)
        return x * x, socket.gethostname()

    rc = ipp.Client(CLIENT_FILE, timeout=30)
    rc.wait_for_engines(1, timeout=60)
    counts = []
    stop = threading.Event()
    def watch():
        while not stop.is_set():
            counts.append((time.monotonic(), len(rc.ids)))
            time.sleep(0.2)
    threading.Thread(target=watch, daemon=True).start()
    lview = rc.load_balanced_view()
    out = {}
    for burst, n in BURSTS:
        t0 = time.monotonic()
        res = lview.map_sync(work, range(n))
        peak = max(c for t, c in counts if t >= t0)
        out[burst] = {"ok": [r[0] for r in res] == [x * x for x in range(n)],
                      "hosts": sorted(set(r[1] for r in res)), "peak": peak,
                      "seconds": time.monotonic() - t0}
        t1 = time.monotonic()
        while len(rc.ids) > 1 and time.monotonic() - t1 < 60:
            time.sleep(0.2)
        out[burst]["after_idle"] = len(rc.ids)
        out[burst]["shrink_seconds"] = time.monotonic() - t1
        print("BURST", burst, json.dumps(out[burst]), flush=True)
        while PAUSE_DIR and not os.path.exists(os.path.join(PAUSE_DIR, "go-" + burst)):
            time.sleep(0.1)
    stop.set()
    print("RESULT", json.dumps(out), flush=True)
""")


def bursts_script(client_file: str, bursts=(("first", 600), ("second", 300)),
                  pause_dir: str | None = None) -> str:
    return (_SCRIPT.replace("CLIENT_FILE", repr(client_file))
            .replace("BURSTS", repr(tuple(bursts)))
            .replace("PAUSE_DIR", repr(pause_dir)))


def result(stdout: str) -> dict:
    """The RESULT line's figures."""
    line = next(l for l in reversed(stdout.splitlines()) if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def burst_line(stdout: str, name: str) -> dict | None:
    """A BURST line's figures, once printed."""
    for l in stdout.splitlines():
        if l.startswith(f"BURST {name} "):
            return json.loads(l.split(" ", 2)[2])
    return None
