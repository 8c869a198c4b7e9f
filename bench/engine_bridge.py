"""Python cost of one apply_request inside our ipengine, without sockets or a cluster.

Runs the engine's bridge module (src/engine/python/ipp_engine_bridge.py) with a host that drops
everything, and times Bridge.apply on a pickled no-op, the same call the C++ engine makes per
task. Prints microseconds per call (median of five rounds) and, with --profile, the top of a
cProfile listing.

    /usr/bin/python3 bench/engine_bridge.py [--calls 5000] [--profile] [--bridge-dir DIR]
        [--pause-ms MS]

--bridge-dir loads ipp_engine_bridge.py from another directory (an older checkout) for an A/B.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class NullHost:
    def stream(self, name, data):
        pass

    def flush(self):
        pass

    def publish(self, msg_type, content, topic, engine_metadata, buffers):
        pass

    def log(self, level, message):
        pass


def noop():
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--pause-ms", type=float, default=0.0,
                    help="also time calls made after this long idle each (CPU time per call), "
                         "as an engine fed by one client sees them")
    ap.add_argument("--bridge-dir", default=str(REPO / "src" / "engine" / "python"))
    a = ap.parse_args()
    sys.path.insert(0, a.bridge_dir)
    import ipp_engine_bridge as bridge_mod
    from ipyparallel.serialize import pack_apply_message

    out, err = sys.stdout, sys.stderr
    bridge = bridge_mod.Bridge(NullHost(), engine_uuid="bench", engine_id=0, use_ipython=True)
    bridge.start(0)  # replaces sys.stdout/sys.stderr with the host's streams
    buffers = [bytes(b) for b in pack_apply_message(noop, (), {})]
    for i in range(200):
        bridge.apply(f"warm-{i}", buffers)
    rounds = []
    for r in range(5):
        t0 = time.perf_counter()
        for i in range(a.calls):
            bridge.apply(f"r{r}-{i}", buffers)
        rounds.append((time.perf_counter() - t0) / a.calls * 1e6)
    paused = []
    if a.pause_ms > 0:
        for i in range(min(a.calls, 2000)):
            time.sleep(a.pause_ms / 1000)
            t0 = time.thread_time_ns()
            bridge.apply(f"p{i}", buffers)
            paused.append((time.thread_time_ns() - t0) / 1000)
    sys.stdout, sys.stderr = out, err
    print(f"Bridge.apply of a no-op: {statistics.median(rounds):.1f} µs per call "
          f"(median of 5 rounds of {a.calls}; min {min(rounds):.1f}, max {max(rounds):.1f})")
    if paused:
        print(f"after {a.pause_ms:g} ms idle each: {statistics.median(paused):.1f} µs of CPU per "
              f"call (median of {len(paused)} calls)")
    if a.profile:
        prof = cProfile.Profile()
        sys.stdout = bridge._streams[0] if bridge._streams else sys.stdout
        prof.enable()
        for i in range(a.calls):
            bridge.apply(f"p-{i}", buffers)
        prof.disable()
        sys.stdout = out
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
