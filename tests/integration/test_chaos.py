"""Chaos: 10,000 short load-balanced tasks with retries=3 on 4 engines while a driver SIGKILLs a
random engine every 2 s (and starts a replacement, as ipcluster's engine restarts do), and the
same while it freezes engines with SIGSTOP until the heartbeat gives up on them. Every result
must be right and reach the client exactly once; nothing may be lost. The counts (tasks,
executions, kills or freezes, retries, replacements) are printed.

Run in CI's "ipcontroller start-up, config and restart" step, with our controller and engines."""

from __future__ import annotations

import collections
import os
import random
import signal
import threading
import time

import pytest

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import Impl, scaled, wait_for

N_ENGINES = 4
N_TASKS = 10_000
PERIOD = 2.0  # seconds between two faults
MIN_FAULTS = 8


@interactive
def marked_double(x, marks, seconds):
    """Leave a mark for this execution, work a little, return 2x."""
    import os
    import time

    fd = os.open(f"{marks}/{x}-{os.getpid()}-{time.monotonic_ns()}", os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    time.sleep(seconds)
    return 2 * x


def count_replies(rc) -> collections.Counter:
    """Count every apply_reply the client takes in, per msg_id."""
    seen: collections.Counter = collections.Counter()
    original = rc._handle_apply_reply

    def counting(msg):
        seen[msg["parent_header"]["msg_id"]] += 1
        return original(msg)

    rc._handle_apply_reply = counting
    rc._queue_handlers["apply_reply"] = counting
    return seen


class Driver(threading.Thread):
    """Every PERIOD: pick a live engine at random, hurt it, start a replacement."""

    def __init__(self, cluster, rc, mode: str):
        super().__init__(daemon=True)
        self.cluster, self.rc, self.mode = cluster, rc, mode
        self.stop_event = threading.Event()
        self.faults = 0
        self.replacements = 0
        self.error: BaseException | None = None

    def victims(self):
        return [p for p in self.cluster.engines if p.alive() and not getattr(p, "hurt", False)]

    def run(self):
        try:
            while not self.stop_event.wait(PERIOD):
                live = self.victims()
                if not live:
                    continue
                victim = random.choice(live)
                victim.hurt = True
                if self.mode == "kill":
                    os.kill(victim.pid, signal.SIGKILL)
                else:
                    os.kill(victim.pid, signal.SIGSTOP)
                    threading.Thread(target=self.thaw_later, args=(victim,), daemon=True).start()
                self.faults += 1
                self.cluster.start_engines(1)
                self.replacements += 1
        except BaseException as e:  # reported by the test
            self.error = e

    def thaw_later(self, victim):
        # Frozen past the heartbeat timeout, then let go and retired as a launcher would.
        time.sleep(3.0)
        os.kill(victim.pid, signal.SIGCONT)
        time.sleep(0.5)
        victim.popen.terminate()


@pytest.mark.parametrize("mode", ["kill", "stop"])
def test_no_task_lost_under_faults(mode, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    # A fast heartbeat, so frozen engines are given up on within a second (200 ms x (3 + 1)).
    args = ["--HeartMonitor.max_heartmonitor_misses=3"]
    with running_cluster(Impl("cpp", "cpp"), N_ENGINES, f"chaos-{mode}", controller_args=args,
                         ping_ms=200) as cluster:
        rc = cluster.clients[0]
        replies = count_replies(rc)
        view = rc.load_balanced_view()
        view.retries = 3
        driver = Driver(cluster, rc, mode)
        started = time.monotonic()
        driver.start()
        # 8 ms each: long enough that the run spans MIN_FAULTS periods on 4 engines.
        ar = view.map_async(marked_double, range(N_TASKS), [str(marks)] * N_TASKS,
                            [0.008] * N_TASKS)
        try:
            results = ar.get(timeout=scaled(600))
            # keep the faults coming until enough have happened during the run
            assert driver.faults >= MIN_FAULTS, (
                f"the run ended after {driver.faults} faults; make the tasks longer")
        finally:
            driver.stop_event.set()
            driver.join(10)
        took = time.monotonic() - started
        assert driver.error is None, driver.error
        assert results == [2 * x for x in range(N_TASKS)]
        # every reply arrived once, none twice, none missing
        assert len(replies) == N_TASKS
        duplicates = {m: n for m, n in replies.items() if n != 1}
        assert not duplicates, f"replies delivered more than once: {list(duplicates.items())[:5]}"
        executions = len(os.listdir(marks))
        ran = collections.Counter(name.split("-")[0] for name in os.listdir(marks))
        assert len(ran) == N_TASKS  # every task ran at least once
        retries = executions - N_TASKS
        print(f"\nchaos ({mode}): {N_TASKS} tasks, {executions} executions, {driver.faults} "
              f"{'kills' if mode == 'kill' else 'freezes'}, {retries} retries, "
              f"{driver.replacements} replacement engines, 0 lost, {took:.1f} s")
        # the cluster still works with the replacements
        wait_for(lambda: len(rc.ids) >= N_ENGINES, 30, message="replacement engines")
        assert rc.load_balanced_view().map_sync(interactive(lambda x: x + 1), range(20)) == \
            list(range(1, 21))
