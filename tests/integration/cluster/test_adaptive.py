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

from adaptive_bursts import bursts_script, result
from conftest import bin_dir



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
        out = env.python(bursts_script(client_file), timeout=300)
        assert out.returncode == 0, out.stderr
        res = result(out.stdout)
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
