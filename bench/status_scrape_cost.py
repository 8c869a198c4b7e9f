#!/usr/bin/python3
"""What one request to our controller's status endpoint costs the controller: CPU time and
wall time per request of /metrics and /api/status, on an idle controller, then after the load
generator ran 100,000 tasks through it (32 simulated engines, 4 clients: the task store and the
counters full). The controller's CPU comes from /proc (psutil), before and after a series of
requests made one after another.

    /usr/bin/python3 bench/status_scrape_cost.py [--requests 50] [--tasks 100000]

Prints the figures; asserts nothing. Scraped once a second, a request's CPU time over one
second is the share of a CPU the endpoint takes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402
from run import run_loadgen  # noqa: E402


def per_request(proc: psutil.Process, url: str, n: int) -> tuple[float, float]:
    """(controller CPU ms, wall ms) per request, over n requests in a row."""
    c0, t0 = proc.cpu_times(), time.monotonic()
    for _ in range(n):
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()
    c1, t1 = proc.cpu_times(), time.monotonic()
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    return cpu / n * 1e3, (t1 - t0) / n * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--tasks", type=int, default=100_000)
    a = ap.parse_args()
    root = bl.tmpdir("ipp-bench-scrape-")
    cl = bl.IppCluster("ours", "python", 0, root, controller_args=["--status-port=0"])
    try:
        cl.start_controller()
        proc = psutil.Process(cl.controller.pid)
        status_file = cl.profile / "security" / "ipcontroller-status.json"
        bl.wait_for(lambda: status_file.exists() and status_file.stat().st_size > 0, 30, 0.05,
                    "the status file")
        base = json.loads(status_file.read_text())["url"].rstrip("/")
        rows = []
        for when in ("idle, empty", f"after {a.tasks:,} tasks"):
            if when != "idle, empty":
                r = run_loadgen(cl, ["--engines", "32", "--tasks", str(a.tasks), "--clients", "4",
                                     "--window", "32"], root)
                print(f"load generator: {r.get('tasks_per_s', 0):,.0f} tasks/s", flush=True)
                time.sleep(1)
            for path in ("metrics", "api/status"):
                cpu, wall = per_request(proc, f"{base}/{path}", a.requests)
                rows.append((when, "/" + path, cpu, wall))
        print(f"\n{a.requests} requests in a row each; controller CPU from /proc "
              f"(clock ticks of 10 ms, so the figures are averages)\n")
        print("| controller | request | CPU per request (ms) | wall per request (ms) |")
        print("|---|---|---:|---:|")
        for when, path, cpu, wall in rows:
            print(f"| {when} | {path} | {cpu:.2f} | {wall:.2f} |")
    finally:
        cl.stop()
        bl.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
