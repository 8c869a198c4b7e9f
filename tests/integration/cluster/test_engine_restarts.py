"""Engine restarts in ipcluster (c.Cluster.engine_restart_limit, off by default): a killed engine
is replaced through the same launcher, a set whose engines keep dying young stops being
restarted at the limit, `ipcluster stop` restarts nothing; with the option off nothing is
replaced. Our ipcluster and engines, driven by a Python client."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from conftest import bin_dir, processes_under, wait_for

WAIT_AND_RUN = """
import json, os, sys, time
import ipyparallel as ipp
rc = ipp.Client(sys.argv[1], timeout=30)
want = int(sys.argv[2])
deadline = time.monotonic() + 60
while len(rc.ids) < want and time.monotonic() < deadline:
    time.sleep(0.1)
pids = rc[:].apply_sync(os.getpid)
print(json.dumps({"ids": rc.ids, "pids": pids}))
"""


def _config(restarts: str = "") -> str:
    ours = str(bin_dir() / "ipengine")
    return f"c.EngineLauncher.engine_cmd = [{ours!r}]\n" + restarts


def _client_file(env):
    return str(env.profile_dir() / "security" / "ipcontroller-client.json")


def _log(env) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (env.profile_dir() / "log").glob("ipcluster-*.log"))


def _engines(env, want: int) -> dict:
    out = env.python(WAIT_AND_RUN.replace("sys.argv[1]", repr(_client_file(env)))
                     .replace("sys.argv[2]", str(want)))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _start(env, extra: str):
    env.write_config(extra=_config(extra))
    r = env.run("start", "-n", "2", "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_killed_engines_are_replaced_up_to_the_limit(env):
    _start(env, "c.Cluster.engine_restart_limit = 2\n"
                "c.Cluster.engine_restart_delay = 0.2\n")
    seen_ids = set(_engines(env, 2)["ids"])
    assert len(seen_ids) == 2
    # two young deaths in a row: both replaced, 0.2 s then 0.4 s later
    for n in range(2):
        current = _engines(env, 2)
        os.kill(current["pids"][0], signal.SIGKILL)
        wait_for(lambda: _log(env).count("Started a replacement engine") == n + 1, 30,
                 what=f"replacement {n + 1}")
        now = _engines(env, 2)
        assert len(now["ids"]) == 2 and set(now["ids"]) - seen_ids, now
        assert current["pids"][0] not in now["pids"]
        seen_ids |= set(now["ids"])
    log = _log(env)
    assert "Restarting an engine of set" in log and "(restart 1 of at most 2 in a row)" in log
    assert "in 0.4 s (restart 2 of at most 2 in a row)" in log

    # the third young death is not restarted
    current = _engines(env, 2)
    os.kill(current["pids"][0], signal.SIGKILL)
    wait_for(lambda: "Engine restart limit (2) reached" in _log(env), 30, what="the limit line")
    time.sleep(1.5)
    assert _log(env).count("Started a replacement engine") == 2
    assert len(_engines(env, 1)["ids"]) == 1

    # stop: the last engine goes without being replaced
    env.run("stop", check_rc=0)
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
    assert _log(env).count("Started a replacement engine") == 2


def test_restarts_are_off_by_default(env):
    _start(env, "")
    first = _engines(env, 2)
    os.kill(first["pids"][0], signal.SIGKILL)
    wait_for(lambda: re.search(r"engine \d+ stopped", _log(env)), 30,
             what="the engine's death in the log")
    time.sleep(2.0)
    log = _log(env)
    assert "Restarting an engine" not in log and "replacement" not in log
    assert len(_engines(env, 1)["ids"]) == 1
    env.run("stop", check_rc=0)
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
