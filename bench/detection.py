#!/usr/bin/python3
"""How fast a dead engine is noticed: SIGKILL of an engine running a direct task, to (a) the
client's unregistration notification and (b) the task's EngineError, for ours (our ipcontroller
and ipengine) and Python's (Debian's ipyparallel 7.1 controller and engines, whose engines each
run a nanny process that tells the hub when its engine dies).

    /usr/bin/python3 bench/detection.py [--kills 20] [--engines 3] [--ping 3000]

Both clusters run at once; kills alternate between them, and each killed engine is replaced
before the next kill. Medians and maxima are printed with every run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from ipp_testcluster import Impl, TestCluster, wait_for  # noqa: E402

from ipyparallel import error, interactive  # noqa: E402

SYSTEMS = {"ours": Impl("cpp", "cpp"), "python": Impl("python", "python")}


@interactive
def nap(seconds):
    import time

    time.sleep(seconds)


class Watched:
    """A running cluster, its client, and the time each engine's unregistration arrived."""

    def __init__(self, name: str, impl: Impl, engines: int, ping: int):
        self.name = name
        self.cluster = TestCluster(impl, name=f"detect-{name}", ping_ms=ping)
        self.cluster.start_controller()
        self.cluster.start_engines(engines)
        self.rc = self.cluster.connect()
        self.cluster.wait_for_engines(self.rc, engines)
        self.engines = engines
        self.gone: dict[int, float] = {}
        original = self.rc._notification_handlers["unregistration_notification"]

        def on_unregistration(msg):
            self.gone.setdefault(msg["content"]["id"], time.monotonic())
            original(msg)

        self.rc._notification_handlers["unregistration_notification"] = on_unregistration
        self.notify, self.engine_error = [], []

    def kill_one(self) -> None:
        eid = self.rc.ids[-1]
        pid = self.rc[eid].apply_sync(os.getpid)
        ar = self.rc[eid].apply_async(nap, 3600)
        time.sleep(0.3)  # the task is running
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        try:
            ar.get(timeout=120)
            raise RuntimeError("the task of a killed engine succeeded")
        except error.RemoteError as e:
            if e.ename != "EngineError":
                raise
        t_error = time.monotonic()
        wait_for(lambda: eid in self.gone, 120, interval=0.005, message="unregistration")
        self.notify.append((self.gone[eid] - t0) * 1000)
        self.engine_error.append((t_error - t0) * 1000)
        # replace it before the next kill
        self.cluster.start_engines(1)
        wait_for(lambda: len(self.rc.ids) == self.engines, 120, interval=0.05,
                 message="the replacement engine")

    def stop(self) -> None:
        self.cluster.stop()
        self.cluster.remove_files()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--engines", type=int, default=3)
    p.add_argument("--ping", type=int, default=3000, help="heartbeat period, ms (both systems)")
    p.add_argument("--systems", default="ours,python")
    p.add_argument("--json", type=Path, default=None, help="also write every run here")
    a = p.parse_args()
    names = a.systems.split(",")
    clusters = []
    try:
        for n in names:
            clusters.append(Watched(n, SYSTEMS[n], a.engines, a.ping))
        for i in range(a.kills):
            for c in clusters:
                c.kill_one()
            print(f"kill {i + 1}: " + ", ".join(
                f"{c.name} notification {c.notify[-1]:.1f} ms, EngineError {c.engine_error[-1]:.1f} ms"
                for c in clusters), flush=True)
    finally:
        for c in clusters:
            try:
                c.stop()
            except Exception as e:  # a measurement run: report, do not hide the figures
                print(f"stopping {c.name}: {e!r}", file=sys.stderr)
    print(f"\nSIGKILL of an engine running a direct task; {a.kills} kills each, ping {a.ping} ms")
    print(f"{'':10} {'notification median / max':>28} {'EngineError median / max':>28}")
    out = {"kills": a.kills, "ping_ms": a.ping, "load": os.getloadavg(), "systems": {}}
    for c in clusters:
        print(f"{c.name:10} {statistics.median(c.notify):>14.1f} / {max(c.notify):7.1f} ms"
              f"{statistics.median(c.engine_error):>16.1f} / {max(c.engine_error):7.1f} ms")
        out["systems"][c.name] = {"notification_ms": c.notify, "engine_error_ms": c.engine_error}
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
