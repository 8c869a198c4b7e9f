"""Test-side helper for the recording batch fakes in fakes/ (see fakes/fakebatch_core.py).

``FakeBatch(root)`` prepares a fresh FAKE_BATCH_DIR and builds ``env``: os.environ with the fakes
first on PATH, FAKE_BATCH_DIR, FAKE_BATCH_LOG and FAKE_BATCH_SYSTEM set. Give that env to the
process under test (e.g. ipcluster), then read back what it did:

  calls(cmd=None)     the recorded calls, one dict per call, oldest first
  jobs()              {job id: state dict} from the fakes' state files
  status(job_id)      queued | running | done | failed | cancelled
  wait(job_id)        wait for a final status and return it
  output(job_id)      the text the job's tasks wrote (all distinct output files, in task order)
  kill_all()          SIGKILL every task of every job (teardown)

Owned by one test; not thread-safe.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FAKES = Path(__file__).resolve().parent / "fakes"
sys.path.insert(0, str(FAKES))
import fakebatch_core  # noqa: E402
sys.path.remove(str(FAKES))

COMMANDS = tuple(fakebatch_core.COMMANDS)
FINAL = ("done", "failed", "cancelled")


class _View(fakebatch_core.Ctx):
    """Read-only view of a fake batch directory, reusing the fakes' own state logic."""

    def __init__(self, root: Path):  # noqa: D107 - deliberately skips Ctx.__init__ (no env needed)
        self.dir = root
        self.jobs = root / "jobs"


class FakeBatch:
    def __init__(self, root: str | os.PathLike, system: str = "pbs"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        self.log = self.root / "calls.jsonl"
        self.env = dict(os.environ)
        self.env["PATH"] = f"{FAKES}:{self.env.get('PATH', '/usr/bin:/bin')}"
        self.env["FAKE_BATCH_DIR"] = str(self.root)
        self.env["FAKE_BATCH_LOG"] = str(self.log)
        self.env["FAKE_BATCH_SYSTEM"] = system
        for var in ("FAKE_BATCH_REJECT", "FAKE_BATCH_HOLD"):
            self.env.pop(var, None)
        # The fakes record the IPP_* variables a submitter passes; start without the test
        # runner's own (IPP_BIN_DIR, ...).
        for var in [v for v in self.env if v.startswith("IPP_")]:
            del self.env[var]
        self._view = _View(self.root)

    def run(self, args: list[str], input: str | None = None, env: dict | None = None,
            cwd: str | os.PathLike | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run one command (normally a fake) with this env; text output, no check."""
        e = dict(self.env, **(env or {}))
        return subprocess.run(args, input=input, env=e, cwd=cwd or self.root, capture_output=True,
                              text=True, timeout=timeout)

    def calls(self, cmd: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        out = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [c for c in out if cmd is None or c["cmd"] == cmd]

    def jobs(self) -> dict[int, dict]:
        return {j["id"]: j for j in self._view.all_jobs()}

    def job(self, job_id) -> dict:
        job = self._view.load(int(job_id))
        if job is None:
            raise KeyError(f"no fake job {job_id} in {self.root}")
        return job

    def status(self, job_id) -> str:
        return fakebatch_core.job_status(self._view, self.job(job_id))

    def alive_pids(self, job_id) -> list[int]:
        return [t["pid"] for t in self.job(job_id)["tasks"] if fakebatch_core.task_alive(t)]

    def wait(self, job_id, timeout: float = 30, states: tuple[str, ...] = FINAL) -> str:
        deadline = time.monotonic() + timeout
        st = self.status(job_id)
        while st not in states and time.monotonic() < deadline:
            time.sleep(0.05)
            st = self.status(job_id)
        if st not in states:
            raise TimeoutError(f"fake job {job_id} still {st} after {timeout}s")
        return st

    def output(self, job_id) -> str:
        files = []
        for t in self.job(job_id)["tasks"]:
            for f in (t["stdout"], t["stderr"]):
                if f and f not in files:
                    files.append(f)
        return "".join(Path(f).read_text() if Path(f).exists() else "" for f in files)

    def kill_all(self) -> None:
        for job in self._view.all_jobs():
            fakebatch_core.signal_job(job, signal.SIGKILL)
