"""Start and stop a real controller + engines as subprocesses for the integration suite.

The same class drives the Python ipyparallel reference (``/usr/bin/python3 -m
ipyparallel.controller`` / ``-m ipyparallel.engine``) and our C++ binaries
(``$IPP_BIN_DIR/ipcontroller`` / ``ipengine``): both accept the same command line.

Every process started here carries the environment variable ``IPP_ITEST_TAG=<random>``
(inherited by their children: controller scheduler processes, engine nannies, ...), so
teardown can find and kill anything left behind, and assert that nothing was.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import psutil

PYTHON = "/usr/bin/python3"
REPO_ROOT = Path(__file__).resolve().parents[2]
TAG_VAR = "IPP_ITEST_TAG"

#: Multiplier for every timeout in the suite (e.g. 3 for sanitizer builds).
TIMEOUT_SCALE = float(os.environ.get("IPP_TEST_TIMEOUT_SCALE", "1") or "1")


def scaled(seconds: float) -> float:
    return seconds * TIMEOUT_SCALE


def bin_dir() -> Path:
    return Path(os.environ.get("IPP_BIN_DIR") or (REPO_ROOT / "build" / "bin"))


def cpp_binary(name: str) -> Path:
    return bin_dir() / name


def cpp_binary_available(name: str) -> bool:
    p = cpp_binary(name)
    return p.is_file() and os.access(p, os.X_OK)


def wait_for(
    predicate: Callable[[], object],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` (scaled) passes."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {scaled(timeout):.1f}s waiting for {message}")
        time.sleep(interval)


@dataclass(frozen=True)
class Impl:
    """Which implementation runs the controller and each engine."""

    controller: str  # "python" | "cpp"
    engine: str  # "python" | "cpp" | "mixed"

    @property
    def id(self) -> str:
        return f"{self.controller}-{self.engine}"

    def engine_kinds(self, n: int) -> list[str]:
        if self.engine == "mixed":
            return ["python" if i % 2 == 0 else "cpp" for i in range(n)]
        return [self.engine] * n

    def needed_binaries(self, n_engines: int) -> list[str]:
        need = []
        if self.controller == "cpp":
            need.append("ipcontroller")
        if "cpp" in self.engine_kinds(max(n_engines, 2)):
            need.append("ipengine")
        return need


@dataclass
class Proc:
    role: str  # "controller" | "engine-<n>" | ...
    kind: str  # "python" | "cpp"
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen
    log_file: object = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def _tail(path: Path, max_lines: int) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    lines = data.decode("utf-8", "replace").splitlines()
    if len(lines) > max_lines:
        lines = [f"... ({len(lines) - max_lines} earlier lines omitted)"] + lines[-max_lines:]
    return "\n".join(lines)


class TestCluster:
    """One controller and its engines, each a real subprocess, in a private IPYTHONDIR."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        impl: Impl,
        name: str = "cluster",
        controller_args: Iterable[str] = (),
        ping_ms: int = 500,
        root: Optional[Path] = None,
        log_level: int = 10,
    ):
        self.impl = impl
        self.name = name
        self.ping_ms = ping_ms
        self.log_level = log_level
        self.controller_args = list(controller_args)
        self.root = Path(root or tempfile.mkdtemp(prefix=f"ipp-itest-{name}-"))
        self.ipython_dir = self.root / "ipython"
        self.profile_dir = self.ipython_dir / "profile_default"
        self.security_dir = self.profile_dir / "security"
        self.log_dir = self.root / "logs"
        for d in (self.ipython_dir, self.profile_dir, self.security_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.security_dir, 0o700)
        self.tag = uuid.uuid4().hex
        self.controller: Optional[Proc] = None
        self.engines: list[Proc] = []
        self.clients: list = []
        self._n_started_engines = 0
        self.env = self._make_env()

    # ------------------------------------------------------------------ paths
    @property
    def client_file(self) -> Path:
        return self.security_dir / "ipcontroller-client.json"

    @property
    def engine_file(self) -> Path:
        return self.security_dir / "ipcontroller-engine.json"

    def connection_info(self, which: str = "client") -> dict:
        path = self.client_file if which == "client" else self.engine_file
        return json.loads(path.read_text())

    # ------------------------------------------------------------- processes
    def _make_env(self) -> dict:
        # no IPP_SESSION_KEY / IPP_CONNECTION_INFO / IPP_CLUSTER_ID ... from the caller's environment
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPP_")}
        env["IPYTHONDIR"] = str(self.ipython_dir)
        env["PYTHONUNBUFFERED"] = "1"
        env[TAG_VAR] = self.tag
        # never let a user's startup files or site customisations leak into the engines
        env.pop("PYTHONSTARTUP", None)
        return env

    def _spawn(self, role: str, kind: str, argv: list[str]) -> Proc:
        log_path = self.log_dir / f"{role}.log"
        log_file = open(log_path, "ab")
        log_file.write(f"$ {' '.join(argv)}\n".encode())
        log_file.flush()
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=str(self.root),
            start_new_session=True,
        )
        return Proc(role=role, kind=kind, argv=argv, log_path=log_path, popen=popen, log_file=log_file)

    def controller_argv(self) -> list[str]:
        flags = [
            f"--profile-dir={self.profile_dir}",
            "--ip=127.0.0.1",
            f"--ping={self.ping_ms}",
            f"--log-level={self.log_level}",
        ] + self.controller_args
        if self.impl.controller == "cpp":
            return [str(cpp_binary("ipcontroller"))] + flags
        return [PYTHON, "-m", "ipyparallel.controller"] + flags

    def engine_argv(self, kind: str) -> list[str]:
        flags = [f"--profile-dir={self.profile_dir}"]
        if kind == "cpp":
            return [str(cpp_binary("ipengine"))] + flags
        return [PYTHON, "-m", "ipyparallel.engine"] + flags

    def start_controller(self, timeout: float = 30) -> Proc:
        assert self.controller is None or not self.controller.alive(), "controller already running"
        for f in (self.client_file, self.engine_file):
            if f.exists():
                f.unlink()
        self.controller = self._spawn("controller", self.impl.controller, self.controller_argv())

        def files_ready():
            if not self.controller.alive():
                raise RuntimeError(
                    f"controller exited with status {self.controller.popen.returncode} before "
                    f"writing its connection files:\n{_tail(self.controller.log_path, 80)}"
                )
            for f in (self.client_file, self.engine_file):
                try:
                    json.loads(f.read_text())
                except (OSError, ValueError):
                    return False
            return True

        wait_for(files_ready, timeout, message="controller connection files")
        return self.controller

    def start_engines(self, n: int) -> list[Proc]:
        kinds = self.impl.engine_kinds(self._n_started_engines + n)[self._n_started_engines :]
        new = []
        for kind in kinds:
            role = f"engine-{self._n_started_engines}-{kind}"
            self._n_started_engines += 1
            new.append(self._spawn(role, kind, self.engine_argv(kind)))
        self.engines.extend(new)
        return new

    def connect(self, timeout: float = 20, **kwargs):
        import ipyparallel as ipp

        # the connection file goes first, positionally: ipyparallel 7.1 accepts a url_file
        # keyword but ignores it and reads the profile's file instead
        rc = ipp.Client(
            str(self.client_file),
            profile_dir=str(self.profile_dir),
            timeout=scaled(timeout),
            **kwargs,
        )
        self.clients.append(rc)
        return rc

    def wait_for_engines(self, rc, n: int, timeout: float = 60):
        def check_alive():
            dead = [p for p in self.all_procs() if not p.alive()]
            if dead:
                raise RuntimeError(
                    "process exited while waiting for engines: "
                    + ", ".join(f"{p.role} (status {p.popen.returncode})" for p in dead)
                )
            return len(rc.ids) >= n

        # rc.wait_for_engines blocks without noticing a crashed process; poll instead
        wait_for(check_alive, timeout, interval=0.1, message=f"{n} engines to register")
        rc.wait_for_engines(n, timeout=scaled(10))
        return rc

    def start(self, n_engines: int, timeout: float = 60):
        """Start controller and ``n_engines`` engines; return a connected Client."""
        self.start_controller()
        self.start_engines(n_engines)
        rc = self.connect()
        self.wait_for_engines(rc, n_engines, timeout=timeout)
        return rc

    def all_procs(self) -> list[Proc]:
        return ([self.controller] if self.controller else []) + list(self.engines)

    def engine_proc_for_pid(self, pid: int) -> Proc:
        """The engine process we launched that is (or is an ancestor of) ``pid``."""
        for p in self.engines:
            if p.pid == pid:
                return p
        try:
            ancestors = {a.pid for a in psutil.Process(pid).parents()}
        except psutil.NoSuchProcess:
            ancestors = set()
        for p in self.engines:
            if p.pid in ancestors:
                return p
        raise LookupError(f"pid {pid} is not one of the launched engines")

    def tagged_processes(self) -> list[psutil.Process]:
        """Every live process (other than this one) whose environment carries our tag."""
        found = []
        me = os.getpid()
        for proc in psutil.process_iter(["pid"]):
            if proc.pid == me:
                continue
            try:
                if proc.environ().get(TAG_VAR) == self.tag and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
                continue
        return found

    # ------------------------------------------------------------------ logs
    def logs(self, max_lines: int = 150) -> str:
        parts = []
        for p in self.all_procs():
            status = "running" if p.alive() else f"exited {p.popen.returncode}"
            parts.append(
                f"----- {self.name}/{p.role} [{p.kind}] pid {p.pid} ({status}) -----\n"
                + _tail(p.log_path, max_lines)
            )
        return "\n".join(parts)

    # -------------------------------------------------------------- teardown
    def _shutdown_via_client(self, timeout: float) -> Optional[str]:
        rc = next((c for c in self.clients if not getattr(c, "_closed", False)), None)
        if rc is None or self.controller is None or not self.controller.alive():
            return None
        result: dict = {}

        def run():
            try:
                rc.shutdown(hub=True, block=True)
            except BaseException as e:  # reported, not fatal: signals follow
                result["error"] = repr(e)

        t = threading.Thread(target=run, name="cluster-shutdown", daemon=True)
        t.start()
        t.join(scaled(timeout))
        if t.is_alive():
            return "client shutdown(hub=True) did not return"
        return result.get("error")

    def stop(
        self, graceful: bool = True, term_timeout: float = 15, kill_timeout: float = 10
    ) -> tuple[list[str], list[str]]:
        """Stop everything.

        First ``Client.shutdown(hub=True)`` (when ``graceful``), then SIGTERM to every launched
        process still running, then SIGKILL. Returns ``(notes, problems)``: a failed client
        shutdown is a note; a process that needed SIGKILL or anything left behind is a problem.
        """
        notes: list[str] = []
        problems: list[str] = []
        if graceful:
            err = self._shutdown_via_client(timeout=15)
            if err:
                notes.append(err)
            # give processes the chance to exit on their own after a hub shutdown
            try:
                wait_for(lambda: not any(p.alive() for p in self.all_procs()), 10, interval=0.1)
            except TimeoutError:
                pass
        for rc in self.clients:
            try:
                rc.close(linger=0)
            except Exception:
                pass
        self.clients.clear()

        alive = [p for p in self.all_procs() if p.alive()]
        for p in alive:
            try:
                p.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            wait_for(lambda: not any(p.alive() for p in self.all_procs()), term_timeout, interval=0.1)
        except TimeoutError:
            stuck = [p for p in self.all_procs() if p.alive()]
            problems.append("SIGTERM did not stop " + ", ".join(p.role for p in stuck))
            for p in stuck:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    p.popen.kill()
                except ProcessLookupError:
                    pass
            for p in stuck:
                try:
                    p.popen.wait(scaled(kill_timeout))
                except subprocess.TimeoutExpired:
                    problems.append(f"{p.role} pid {p.pid} survived SIGKILL")

        # children (controller scheduler processes, engine nannies) need a moment to notice
        try:
            wait_for(lambda: not self.tagged_processes(), 10, interval=0.1)
        except TimeoutError:
            leftovers = self.tagged_processes()
            desc = ", ".join(f"{p.pid} {' '.join(p.cmdline())[:120]}" for p in leftovers)
            problems.append(f"processes left behind after stop: {desc}")
            for p in leftovers:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(leftovers, timeout=scaled(5))
        for p in self.all_procs():
            if p.log_file:
                p.log_file.close()
        return notes, problems

    def remove_files(self):
        shutil.rmtree(self.root, ignore_errors=True)


def terminate_and_wait(popen: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM ``popen``; SIGKILL it if it has not exited within ``timeout`` (scaled)."""
    if popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(scaled(timeout))
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def kill_proc(proc: Proc, sig: int = signal.SIGKILL):
    """Send ``sig`` to one launched process (not its process group)."""
    os.kill(proc.pid, sig)


if __name__ == "__main__":  # manual smoke run: python3 ipp_testcluster.py [python|cpp] [python|cpp|mixed]
    impl = Impl(*(sys.argv[1:3] or ["python", "python"]))
    c = TestCluster(impl, name="smoke")
    t0 = time.monotonic()
    try:
        rc = c.start(2)
        print("engines", rc.ids, f"in {time.monotonic() - t0:.1f}s")
        print(rc[:].apply_sync(os.getpid))
    finally:
        print(c.stop())
        print(c.logs(5))
        c.remove_files()
