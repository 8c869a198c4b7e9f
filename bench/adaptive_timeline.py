#!/usr/bin/python3
"""A timeline of adaptive engines: `ipcluster start --adapt --min=1 --max=6` with our controller
and engines in a private IPYTHONDIR, two bursts of tasks of 50 ms with idle time after each,
sampling every 0.25 s the engines a Python client sees and the load-balanced tasks waiting
(the hub's queue_status "unassigned"). Writes the samples (JSON) and a plot (matplotlib).

    /usr/bin/python3 bench/adaptive_timeline.py [--out docs/bench/adaptive] [--idle-timeout 5]

Prints the figures (burst times, peak engines, time back to the minimum); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import ipyparallel as ipp
from ipyparallel import interactive

REPO = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("IPP_BIN_DIR") or REPO / "build" / "bin")


@interactive
def work(x):
    import time
    time.sleep(0.05)
    return x * x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "bench" / "adaptive"))
    ap.add_argument("--idle-timeout", type=float, default=5.0)
    ap.add_argument("--bursts", default="600,300")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ipp-adaptive-"))
    env = dict(os.environ, IPYTHONDIR=str(root))
    profile = root / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipcluster_config.py").write_text(
        f"c.EngineLauncher.engine_cmd = [{str(BIN / 'ipengine')!r}]\n")
    ipcluster = str(BIN / "ipcluster")
    subprocess.run([ipcluster, "start", "--adapt", "--min=1", "--max=6",
                    f"--idle-timeout={args.idle_timeout}", "--daemonize"],
                   env=env, check=True, timeout=120)
    samples = []
    try:
        rc = ipp.Client(str(profile / "security" / "ipcontroller-client.json"), timeout=30)
        rc.wait_for_engines(1, timeout=60)
        t0 = time.monotonic()
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                waiting = rc.queue_status().get("unassigned", 0)
                samples.append({"t": time.monotonic() - t0, "engines": len(rc.ids),
                                "waiting": waiting})
                time.sleep(0.25)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        marks = []
        lview = rc.load_balanced_view()
        time.sleep(2)
        for n in (int(x) for x in args.bursts.split(",")):
            start = time.monotonic() - t0
            ok = lview.map_sync(work, range(n)) == [x * x for x in range(n)]
            end = time.monotonic() - t0
            while len(rc.ids) > 1 and time.monotonic() - t0 - end < 120:
                time.sleep(0.25)
            back = time.monotonic() - t0
            marks.append({"tasks": n, "start": start, "end": end, "back_to_min": back, "ok": ok})
            print(f"burst of {n}: {end - start:.1f} s, all correct: {ok}, peak "
                  f"{max(s['engines'] for s in samples if start <= s['t'] <= end)} engines, "
                  f"back to 1 engine {back - end:.1f} s after")
            time.sleep(2)
        stop.set()
        watcher.join()
        rc.close()
    finally:
        subprocess.run([ipcluster, "stop"], env=env, timeout=60)
    (out / "timeline.json").write_text(json.dumps({"samples": samples, "bursts": marks}, indent=1))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.8))
    t = [s["t"] for s in samples]
    ax.step(t, [s["engines"] for s in samples], where="post", color="tab:green", label="engines")
    ax.set_xlabel("seconds")
    ax.set_ylabel("engines", color="tab:green")
    ax.set_ylim(0, 7)
    ax2 = ax.twinx()
    ax2.plot(t, [s["waiting"] for s in samples], color="tab:orange", label="tasks waiting")
    ax2.set_ylabel("load-balanced tasks waiting", color="tab:orange")
    for m in marks:
        ax.axvspan(m["start"], m["end"], color="tab:blue", alpha=0.08)
    ax.set_title(f"ipcluster --adapt --min=1 --max=6 --idle-timeout={args.idle_timeout:g}: "
                 "bursts of 50 ms tasks (shaded)")
    fig.tight_layout()
    fig.savefig(out / "timeline.png", dpi=110)
    print(f"wrote {out / 'timeline.png'}")


if __name__ == "__main__":
    sys.exit(main())
