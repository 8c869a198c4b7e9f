#!/usr/bin/python3
"""Time from starting an engine to "registered", for the C++ ipengine and Python's.

Against Debian's Python controller (127.0.0.1, temporary IPYTHONDIR), each engine is started
--runs times; two moments are measured from the spawn:

  completed   the engine logs "Completed registration with id N" (engine's view)
  notified    a connected Client sees the new id (the hub finished the registration, which needs
              the first heartbeat, so it depends on --ping)

Nothing is asserted; the numbers are printed. Usage:

    /usr/bin/python3 bench/engine_registration.py [--ipengine build-engine/bin/ipengine]
        [--runs 5] [--ping 500]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = "/usr/bin/python3"
REPO = Path(__file__).resolve().parents[1]


def default_ipengine() -> str:
    for cand in (os.environ.get("IPP_BIN_DIR", ""), REPO / "build-engine/bin", REPO / "build/bin"):
        if cand and (Path(cand) / "ipengine").exists():
            return str(Path(cand) / "ipengine")
    return "ipengine"


def wait(predicate, timeout, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ipengine", default=default_ipengine())
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ping", type=int, default=500)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ipp-bench-reg-"))
    profile = root / "profile_bench"
    env = dict(os.environ, IPYTHONDIR=str(root / "ipython"))
    ctl_log = open(root / "controller.log", "wb")
    ctl = subprocess.Popen(
        [PYTHON, "-m", "ipyparallel.controller", f"--profile-dir={profile}", "--ip=127.0.0.1",
         f"--ping={args.ping}"], env=env, stdout=ctl_log, stderr=subprocess.STDOUT,
        start_new_session=True)
    procs = []
    try:
        client_file = profile / "security" / "ipcontroller-client.json"
        wait(lambda: client_file.exists() and client_file.stat().st_size > 0, 30, 0.05)
        time.sleep(0.2)
        import ipyparallel as ipp

        rc = ipp.Client(str(client_file), profile_dir=str(profile), timeout=20)
        commands = {
            "cpp": [args.ipengine, f"--profile-dir={profile}"],
            "python": [PYTHON, "-m", "ipyparallel.engine", f"--profile-dir={profile}"],
        }
        results: dict[str, dict[str, list[float]]] = {}
        for name, cmd in commands.items():
            results[name] = {"completed": [], "notified": []}
            for i in range(args.runs):
                log_path = root / f"{name}-{i}.log"
                before = set(rc.ids)
                t0 = time.monotonic()
                with open(log_path, "wb") as log:
                    p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
                procs.append(p)
                completed = None
                notified = None
                while notified is None or completed is None:
                    now = time.monotonic()
                    if now - t0 > 60:
                        raise TimeoutError(f"{name} engine did not register; see {log_path}")
                    if completed is None and b"Completed registration" in log_path.read_bytes():
                        completed = now - t0
                    if notified is None and set(rc.ids) - before:
                        notified = now - t0
                    time.sleep(0.005)
                results[name]["completed"].append(completed)
                results[name]["notified"].append(notified)
                (eid,) = set(rc.ids) - before
                rc.shutdown(targets=[eid], block=True)
                p.wait(timeout=20)
        print(f"engine registration, {args.runs} runs each, controller ping {args.ping} ms")
        print(f"{'engine':8} {'completed (median/min/max s)':32} {'notified (median/min/max s)':32}")
        for name, r in results.items():
            def fmt(xs):
                return f"{statistics.median(xs):.3f} / {min(xs):.3f} / {max(xs):.3f}"
            print(f"{name:8} {fmt(r['completed']):32} {fmt(r['notified']):32}")
        rc.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        ctl.terminate()
        try:
            ctl.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(ctl.pid, 9)
        ctl_log.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
