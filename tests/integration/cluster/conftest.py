"""Fixtures for the ipcluster integration tests.

The binaries come from $IPP_BIN_DIR (default <repo>/build/bin). Engines are Debian's Python
engine (/usr/bin/python3 -m ipyparallel.engine) unless IPP_TEST_ENGINE=cpp, in which case the
C++ ipengine next to ipcluster is used. Every test gets its own IPYTHONDIR; whatever a test leaves
running is killed at teardown (pids from the cluster and pid files).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PYTHON = "/usr/bin/python3"


def bin_dir() -> Path:
    return Path(os.environ.get("IPP_BIN_DIR") or REPO / "build" / "bin")


def ipcluster_bin() -> str:
    return str(bin_dir() / "ipcluster")


def engine_cmd() -> list[str]:
    if os.environ.get("IPP_TEST_ENGINE") == "cpp":
        return [str(bin_dir() / "ipengine")]
    return [PYTHON, "-m", "ipyparallel.engine"]


class Env:
    def __init__(self, root: Path):
        self.root = root
        self.ipython_dir = root / "ipython"
        self.ipython_dir.mkdir()
        self.env = dict(os.environ)
        self.env["IPYTHONDIR"] = str(self.ipython_dir)
        self.env.pop("IPP_PROFILE_DIR", None)
        self.env.pop("IPP_CLUSTER_ID", None)

    def profile_dir(self, name: str = "default") -> Path:
        return self.ipython_dir / f"profile_{name}"

    def write_config(self, name: str = "default", extra: str = "") -> Path:
        p = self.profile_dir(name)
        p.mkdir(parents=True, exist_ok=True)
        (p / "ipcluster_config.py").write_text(
            "c = get_config()\n"
            f"c.EngineLauncher.engine_cmd = {engine_cmd()!r}\n" + extra
        )
        (p / "ipcontroller_config.py").write_text("c = get_config()\nc.HeartMonitor.period = 500\n")
        return p

    def run(self, *args: str, timeout: float = 120, check_rc: int | None = None,
            **kw) -> subprocess.CompletedProcess:
        r = subprocess.run([ipcluster_bin(), *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout, **kw)
        if check_rc is not None:
            assert r.returncode == check_rc, (r.returncode, r.stdout, r.stderr)
        return r

    def python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-c", code], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def recorded_pids(self) -> set[int]:
        pids: set[int] = set()
        for f in self.ipython_dir.glob("profile_*/security/cluster-*.json"):
            try:
                d = json.loads(f.read_text())
            except Exception:
                continue
            c = d.get("controller", {}).get("state", {})
            if c.get("pid", -1) > 0:
                pids.add(c["pid"])
            if d.get("engines", {}).get("class") == "local":
                for s in d.get("engines", {}).get("sets", {}).values():
                    for e in s.get("engines", {}).values():
                        if e.get("pid", -1) > 0:
                            pids.add(e["pid"])
        for f in self.ipython_dir.glob("profile_*/pid/*.pid"):
            try:
                pids.add(int(f.read_text().strip()))
            except Exception:
                pass
        return pids


def processes_under(path: Path) -> list[int]:
    """pids whose command line or environment mentions `path` (our temp dir)."""
    found = []
    needle = str(path).encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if needle in (d / "cmdline").read_bytes() or needle in (d / "environ").read_bytes():
                found.append(int(d.name))
        except OSError:
            pass
    return found


def wait_for(pred, timeout: float = 30, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def env(tmp_path):
    if not Path(ipcluster_bin()).exists():
        pytest.fail(f"ipcluster not built: {ipcluster_bin()} (set IPP_BIN_DIR)")
    e = Env(tmp_path)
    yield e
    leftovers = e.recorded_pids() | set(processes_under(tmp_path))
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
