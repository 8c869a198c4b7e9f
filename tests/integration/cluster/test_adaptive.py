"""Adaptive engines: `ipcluster start --adapt --min=1 --max=6 --idle-timeout=S` with our
controller and engines, driven by a Python client.

Asserted: a burst of 600 tasks of 50 ms grows the engines to 6 while it runs, every result is
right; idle, they shrink back to 1 after the idle timeout (retired engines drained and shut down,
their exits neither restarted nor fatal); a second burst grows them again, all correct; the
decisions are in ipcluster's log and on the controller's status (`ipcluster status --json`).
Bad settings are refused with a message naming them.
"""

from __future__ import annotations

import json

from conftest import bin_dir, wait_for

BURSTS = """
import json, sys, threading, time
import ipyparallel as ipp
from ipyparallel import interactive

@interactive
def work(x):
    import time
    time.sleep(0.05)
    return x * x

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
for burst, n in (("first", 600), ("second", 300)):
    t0 = time.monotonic()
    ok = lview.map_sync(work, range(n)) == [x * x for x in range(n)]
    peak = max(c for t, c in counts if t >= t0)
    out[burst] = {"ok": ok, "peak": peak, "seconds": time.monotonic() - t0}
    t1 = time.monotonic()
    while len(rc.ids) > 1 and time.monotonic() - t1 < 60:
        time.sleep(0.2)
    out[burst]["after_idle"] = len(rc.ids)
    out[burst]["shrink_seconds"] = time.monotonic() - t1
stop.set()
print(json.dumps(out))
"""


def _log(env) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (env.profile_dir() / "log").glob("ipcluster-*.log"))


def test_engines_grow_for_a_burst_and_shrink_when_idle(env):
    ours = str(bin_dir() / "ipengine")
    env.write_config(extra=f"c.EngineLauncher.engine_cmd = [{ours!r}]\n"
                           "c.Cluster.engine_launcher_class = 'local'\n")
    r = env.run("start", "--adapt", "--min=1", "--max=6", "--idle-timeout=3",
                "--status-port=0", "--daemonize", "--log-to-file", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    try:
        client_file = str(env.profile_dir() / "security" / "ipcontroller-client.json")
        out = env.python(BURSTS.replace("CLIENT_FILE", repr(client_file)), timeout=300)
        assert out.returncode == 0, out.stderr
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print("adaptive bursts:", json.dumps(res))
        for burst in ("first", "second"):
            assert res[burst]["ok"], res
            assert res[burst]["peak"] == 6, res
            assert res[burst]["after_idle"] == 1, res
        log = _log(env)
        assert "Adaptive: grow 1 -> 6 engines" in log, log
        assert "Adaptive: shrink 6 -> 1 engines" in log, log
        assert "Engine retired" in log
        assert "Restarting" not in log and "ERROR" not in log
        st = env.run("status", "--json", check_rc=0)
        adaptive = json.loads(st.stdout)["adaptive"]
        assert adaptive["enabled"] and adaptive["min"] == 1 and adaptive["max"] == 6
        actions = [d["action"] for d in adaptive["decisions"]]
        assert actions.count("grow") >= 2 and actions.count("shrink") >= 2, adaptive
        assert len(json.loads(st.stdout)["engines"]) == 1
    finally:
        env.run("stop", timeout=60)


def test_bad_adaptive_settings_are_refused(env):
    env.write_config()
    for args, message in [
        (["--adapt", "--min=1"], "Cluster.adapt_max (--max): must be given"),
        (["--adapt", "--min=5", "--max=2"], "Cluster.adapt_min (--min=5) is above"),
        (["--min=1", "--max=2"], "--min, --max and --idle-timeout need --adapt"),
        (["--adapt", "--max=2", "--engines=mpi"], "MPI engine sets are not adaptive"),
    ]:
        r = env.run("start", *args, timeout=60)
        assert r.returncode != 0, (args, r.stdout, r.stderr)
        assert message in r.stdout + r.stderr, (args, r.stdout, r.stderr)
