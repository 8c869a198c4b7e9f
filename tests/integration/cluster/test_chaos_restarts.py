"""Chaos through ipcluster: `ipcluster start -n 4` with engine restarts on, 10,000 short
load-balanced tasks with retries=3 from a Python client, while a driver SIGKILLs a random engine
process every 2 s (at least 8 kills) and ipcluster's restarts replace them. Every result must be
right and reach the client exactly once, nothing lost; the counts (tasks, executions, kills,
retries, restarts) are printed."""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import threading
import time

from ipyparallel import Client, interactive

from conftest import bin_dir, processes_under, wait_for

N_ENGINES = 4
N_TASKS = 10_000
PERIOD = 2.0
MIN_KILLS = 8


@interactive
def marked_double(x, marks, seconds):
    """Leave a mark for this execution, work a little, return 2x."""
    import os
    import time

    fd = os.open(f"{marks}/{x}-{os.getpid()}-{time.monotonic_ns()}", os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    time.sleep(seconds)
    return 2 * x


def engine_pids(env) -> list[int]:
    try:
        data = json.loads((env.profile_dir() / "security" / "cluster-.json").read_text())
    except (OSError, ValueError):
        return []
    return [e["pid"] for s in data["engines"]["sets"].values() for e in s["engines"].values()
            if e.get("pid", -1) > 0]


def ipcluster_log(env) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in (env.profile_dir() / "log").glob("ipcluster-*.log"))


class Killer(threading.Thread):
    def __init__(self, env):
        super().__init__(daemon=True)
        self.env = env
        self.stop_event = threading.Event()
        self.killed: set[int] = set()
        self.error: BaseException | None = None

    def run(self):
        try:
            while not self.stop_event.wait(PERIOD):
                live = [p for p in engine_pids(self.env) if p not in self.killed]
                if not live:
                    continue
                victim = random.choice(live)
                self.killed.add(victim)
                os.kill(victim, signal.SIGKILL)
        except BaseException as e:  # reported by the test
            self.error = e


def test_no_task_lost_while_ipcluster_restarts_killed_engines(env, tmp_path):
    ours = str(bin_dir() / "ipengine")
    env.write_config(extra=(
        f"c.EngineLauncher.engine_cmd = [{ours!r}]\n"
        "c.Cluster.engine_restart_limit = 100\n"
        "c.Cluster.engine_restart_delay = 0.1\n"
        "c.Cluster.engine_restart_reset = 1\n"))
    r = env.run("start", "-n", str(N_ENGINES), "--daemonize", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    marks = tmp_path / "marks"
    marks.mkdir()
    rc = Client(str(env.profile_dir() / "security" / "ipcontroller-client.json"), timeout=30)
    try:
        rc.wait_for_engines(N_ENGINES, timeout=60)
        seen: collections.Counter = collections.Counter()
        original = rc._handle_apply_reply

        def counting(msg):
            seen[msg["parent_header"]["msg_id"]] += 1
            return original(msg)

        rc._handle_apply_reply = counting
        rc._queue_handlers["apply_reply"] = counting
        view = rc.load_balanced_view()
        view.retries = 3
        killer = Killer(env)
        started = time.monotonic()
        killer.start()
        ar = view.map_async(marked_double, range(N_TASKS), [str(marks)] * N_TASKS,
                            [0.008] * N_TASKS)
        try:
            results = ar.get(timeout=600)
            assert len(killer.killed) >= MIN_KILLS, (
                f"the run ended after {len(killer.killed)} kills; make the tasks longer")
        finally:
            killer.stop_event.set()
            killer.join(10)
        took = time.monotonic() - started
        assert killer.error is None, killer.error
        assert results == [2 * x for x in range(N_TASKS)]
        assert len(seen) == N_TASKS
        twice = {m: n for m, n in seen.items() if n != 1}
        assert not twice, f"replies delivered more than once: {list(twice.items())[:5]}"
        executions = len(os.listdir(marks))
        assert len({name.split("-")[0] for name in os.listdir(marks)}) == N_TASKS
        log = ipcluster_log(env)
        restarts = log.count("Started a replacement engine")
        assert restarts >= len(killer.killed) - 1  # the last kill's restart may still be due
        wait_for(lambda: len(rc.ids) >= N_ENGINES, 30, what="the replacement engines")
        assert "Engine restart limit" not in log
        print(f"\nchaos through ipcluster: {N_TASKS} tasks, {executions} executions, "
              f"{len(killer.killed)} kills, {executions - N_TASKS} retries, {restarts} restarts, "
              f"0 lost, {took:.1f} s")
        assert view.map_sync(interactive(lambda x: x + 1), range(20)) == list(range(1, 21))
    finally:
        rc.close()
        env.run("stop", timeout=120)
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
