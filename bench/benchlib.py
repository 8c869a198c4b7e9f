"""Processes, clusters and CPU/memory accounting for the benchmarks (bench/run.py).

Every process is started in its own session and killed (whole process group, then any
leftover descendant) when its owner stops, so a benchmark leaves nothing running.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import psutil

PYTHON = "/usr/bin/python3"
BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit(n: int = 1 << 20) -> int:
    """Raise RLIMIT_NOFILE (children inherit it): thousands of simulated engines need fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (n, 262144, 65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if os.geteuid() == 0 else hard))
            return want
        except (ValueError, OSError):
            continue
    return soft


def wait_for(pred, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------ /proc accounting
def proc_cpu(pid: int) -> float:
    """utime+stime+cutime+cstime of one process (all its threads, and reaped children), s."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is state (field 3); utime is field 14 -> index 11
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st + cut + cst) / CLK_TCK


def tree_pids(pid: int) -> list[int]:
    try:
        p = psutil.Process(pid)
        return [pid] + [c.pid for c in p.children(recursive=True)]
    except psutil.Error:
        return []


def thread_times(pid: int) -> dict[int, tuple[str, int, int]]:
    """{tid: (thread name, ns on a CPU, voluntary context switches)} of one process's threads.

    The run time is the first field of /proc/<pid>/task/<tid>/schedstat (nanoseconds, user and
    system); a voluntary switch is the thread going to sleep, so each one is a later wake-up."""
    out: dict[int, tuple[str, int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        base = f"/proc/{pid}/task/{t}"
        try:
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/schedstat") as f:
                run_ns = int(f.read().split()[0])
            with open(f"{base}/status") as f:
                status = f.read()
        except (OSError, ValueError, IndexError):
            continue  # the thread ended while it was read
        i = status.find("\nvoluntary_ctxt_switches:")
        vol = int(status[i:].split()[1]) if i >= 0 else 0
        out[int(t)] = (name, run_ns, vol)
    return out


def process_comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def process_name(pid: int, comm: str) -> str:
    """The process's name (comm); for a Python interpreter, the module (-m) or script it runs."""
    if not comm.startswith("python"):
        return comm
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return comm
    for i, arg in enumerate(argv[1:], 1):
        if arg in ("-m", "-c"):
            return argv[i + 1] if arg == "-m" and i + 1 < len(argv) else f"{comm} -c"
        if not arg.startswith("-"):
            return os.path.basename(arg)
    return comm


class CpuMeter:
    """CPU seconds of process trees between start() and stop(), per tree, and per thread.

    Trees are resolved at start and again at stop (union), so a child that appears during
    the run is counted from its birth. A process in several trees (a Dask host's worker
    processes are its children) is counted in the tree of the innermost root above it.

    ``threads`` holds, after stop(), for each tree the CPU seconds and voluntary switches of its
    threads grouped by "process / thread" name (a process below the tree's roots is
    "name (child)"), a profile of where the tree's time went."""

    def __init__(self, roots: dict[str, list[int]]):
        self.roots = roots
        self.before: dict[int, float] = {}
        self.result: dict[str, float] = {}
        self.threads: dict[str, dict[str, dict[str, float]]] = {}

    def _members(self) -> dict[str, set[int]]:
        """The live processes of each tree, each process in the tree of its innermost root."""
        below = {r: set(tree_pids(r)) for roots in self.roots.values() for r in roots}
        tree_of = {r: name for name, roots in self.roots.items() for r in roots}
        out: dict[str, set[int]] = {name: set() for name in self.roots}
        for p in set().union(*below.values()):
            owner = min((r for r in below if p in below[r]), key=lambda r: len(below[r]))
            out[tree_of[owner]].add(p)
        return out

    def start(self):
        self.before = {}
        self.threads_before: dict[int, dict[int, tuple[str, int, int]]] = {}
        self.members = self._members()
        for pids in self.members.values():
            for p in pids:
                self.before[p] = proc_cpu(p)
                self.threads_before[p] = thread_times(p)
        return self

    def stop(self) -> dict[str, float]:
        now = self._members()
        for name in self.roots:
            total = 0.0
            groups: dict[str, dict[str, float]] = {}
            for p in now[name] | self.members[name]:
                total += proc_cpu(p) - self.before.get(p, 0.0)
                comm = process_comm(p)
                label = process_name(p, comm) + ("" if p in self.roots[name] else " (child)")
                before = self.threads_before.get(p, {})
                for tid, (tname, run_ns, vol) in thread_times(p).items():
                    _, run0, vol0 = before.get(tid, (tname, 0, 0))
                    if tname == comm:  # threads that were never named: the main one, Python's
                        tname = "main and unnamed threads"
                    g = groups.setdefault(f"{label} / {tname}", {"cpu_s": 0.0, "wakeups": 0})
                    g["cpu_s"] += max(0, run_ns - run0) / 1e9
                    g["wakeups"] += max(0, vol - vol0)
            self.result[name] = max(0.0, total)
            self.threads[name] = groups
        return self.result


def vm_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(pid: int) -> int:
    """VmRSS summed over a process and its descendants (shared pages counted per process)."""
    return sum(vm_rss_kb(p) for p in tree_pids(pid))


def tree_pss_kb(pid: int) -> int:
    """Proportional set size summed over a process tree (shared pages split between them)."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


# ------------------------------------------------------------------------ processes
class Procs:
    """Owns subprocesses; stop() kills every one of them and their descendants."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.items: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str], env=None, stdin=subprocess.DEVNULL,
              stdout=None, cwd=None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        p = subprocess.Popen(argv, env=env, stdin=stdin,
                             stdout=stdout if stdout is not None else log,
                             stderr=log, cwd=cwd, start_new_session=True)
        p._bench_log = log  # type: ignore[attr-defined]
        self.items.append(p)
        return p

    @staticmethod
    def kill(p: subprocess.Popen, sig_first=signal.SIGTERM, grace: float = 3.0):
        if p.poll() is None:
            desc = []
            try:
                desc = psutil.Process(p.pid).children(recursive=True)
            except psutil.Error:
                pass
            try:
                os.killpg(p.pid, sig_first)
            except OSError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait(5)
            for d in desc:
                try:
                    d.kill()
                except psutil.Error:
                    pass
        log = getattr(p, "_bench_log", None)
        if log:
            log.close()

    def stop(self):
        for p in reversed(self.items):
            self.kill(p)
        self.items.clear()


def bin_dir() -> Path:
    env = os.environ.get("IPP_BIN_DIR")
    if env:
        return Path(env)
    for d in ("build-bench/bin", "build/bin"):
        if (REPO / d / "ipcontroller").exists():
            return REPO / d
    return REPO / "build/bin"


def find_binary(name: str) -> Optional[Path]:
    for d in (Path(os.environ["IPP_BIN_DIR"]) if os.environ.get("IPP_BIN_DIR") else None,
              REPO / "build-bench/bin", REPO / "build/bin", REPO / "build-engine/bin"):
        if d and (d / name).is_file() and os.access(d / name, os.X_OK):
            return d / name
    return None


class MetricsScraper:
    """Fetches a controller's /metrics every `every` seconds on a thread, as Prometheus would
    (the URL and token from its status file, security/ipcontroller-status.json)."""

    def __init__(self, status_file: Path, every: float = 1.0):
        self.status_file, self.every = status_file, every
        self.scrapes = self.failures = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "MetricsScraper":
        wait_for(lambda: self.status_file.exists() and self.status_file.stat().st_size > 0,
                 30, 0.05, "the status file")
        info = json.loads(self.status_file.read_text())
        url = info["url"].rstrip("/") + "/metrics"
        headers = {"Authorization": f"token {info['token']}"} if info.get("token") else {}
        import urllib.request

        def run():
            while not self._stop.wait(self.every):
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                                timeout=5) as resp:
                        body = resp.read()
                    ok = resp.status == 200 and b"ipp_tasks_submitted_total" in body
                except OSError:
                    ok = False
                self.scrapes += ok
                self.failures += not ok

        self._thread = threading.Thread(target=run, name="metrics-scraper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> tuple[int, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        return self.scrapes, self.failures


# ------------------------------------------------------------------------ ipyparallel clusters
class IppCluster:
    """A controller (ours or Python's) and engines (ours or Python's) in a temporary profile."""

    def __init__(self, controller: str, engine: str, n_engines: int, root: Path,
                 ping_ms: Optional[int] = None, controller_args: list[str] = ()):
        self.controller_kind, self.engine_kind = controller, engine
        self.n = n_engines
        self.root = root
        self.profile = root / "profile_bench"
        (self.profile / "security").mkdir(parents=True, exist_ok=True)
        os.chmod(self.profile / "security", 0o700)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("IPP_")}
        self.env["IPYTHONDIR"] = str(root / "ipython")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.procs = Procs(root)
        self.ping_ms = ping_ms
        self.controller_args = list(controller_args)
        self.controller: Optional[subprocess.Popen] = None
        self.engines: list[subprocess.Popen] = []

    @property
    def client_file(self) -> Path:
        return self.profile / "security" / "ipcontroller-client.json"

    @property
    def engine_file(self) -> Path:
        return self.profile / "security" / "ipcontroller-engine.json"

    def controller_argv(self) -> list[str]:
        if self.controller_kind == "floor":
            # bench/floor: routes tasks and checks signatures, nothing else (a yardstick)
            return [str(find_binary("floor")), "--dir", str(self.profile), "--ip", "127.0.0.1",
                    "--verify"]
        if self.controller_kind == "ours":
            argv = [str(find_binary("ipcontroller"))]
        else:
            argv = [PYTHON, "-m", "ipyparallel.controller"]
        argv += [f"--profile-dir={self.profile}", "--ip=127.0.0.1"]
        if self.ping_ms:
            argv.append(f"--ping={self.ping_ms}")
        return argv + self.controller_args

    def engine_argv(self, kind: Optional[str] = None) -> list[str]:
        kind = kind or self.engine_kind
        if kind == "ours":
            argv = [str(find_binary("ipengine"))]
        else:
            argv = [PYTHON, "-m", "ipyparallel.engine"]
        return argv + [f"--profile-dir={self.profile}"]

    def start_controller(self):
        self.controller = self.procs.spawn("controller", self.controller_argv(), env=self.env)
        wait_for(lambda: self.client_file.exists() and self.client_file.stat().st_size > 0
                 and self.engine_file.exists() and self.engine_file.stat().st_size > 0,
                 60, 0.02, "connection files")
        if self.controller.poll() is not None:
            raise RuntimeError(f"controller exited: see {self.root}/controller.log")

    def start_engine(self, kind: Optional[str] = None) -> subprocess.Popen:
        p = self.procs.spawn(f"engine-{len(self.engines)}", self.engine_argv(kind), env=self.env)
        self.engines.append(p)
        return p

    def client(self, timeout=30):
        import ipyparallel as ipp
        return ipp.Client(str(self.client_file), profile_dir=str(self.profile),
                          timeout=timeout)

    def start(self):
        self.start_controller()
        for _ in range(self.n):
            self.start_engine()
        rc = self.client()
        try:
            wait_for(lambda: len(rc.ids) >= self.n, 90, 0.1, f"{self.n} engines")
        except TimeoutError as e:
            tail = (self.root / "controller.log").read_text(errors="replace").splitlines()[-8:]
            raise TimeoutError(f"{e}; registered {rc.ids}; controller log: " + " | ".join(tail))
        finally:
            rc.close()

    def cpu_roots(self) -> dict[str, list[int]]:
        return {"controller": [self.controller.pid], "engines": [e.pid for e in self.engines]}

    def stop(self):
        self.procs.stop()


class DaskCluster:
    """A LocalCluster (n worker processes, one thread each) hosted by bench/dask_cluster.py."""

    def __init__(self, n_workers: int, root: Path):
        self.n = n_workers
        self.root = root
        self.procs = Procs(root)
        self.host: Optional[subprocess.Popen] = None
        self.address = None
        self.worker_pids: list[int] = []

    def start(self):
        self.host = self.procs.spawn("dask-host", [PYTHON, str(BENCH / "dask_cluster.py"), str(self.n)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.host.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"dask cluster did not start: see {self.root}/dask-host.log")
        info = json.loads(line)
        self.address = info["address"]
        self.worker_pids = info["worker_pids"]

    def cpu_roots(self) -> dict[str, list[int]]:
        # scheduler + nannies live in the host process; the workers are its children
        host_only = [self.host.pid]
        return {"controller": host_only, "engines": self.worker_pids}

    def stop(self):
        if self.host and self.host.poll() is None:
            try:
                self.host.stdin.close()
                self.host.wait(15)
            except Exception:
                pass
        self.procs.stop()


def machine_info() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def versions() -> dict:
    v = {"python": sys.version.split()[0]}
    for mod in ("ipyparallel", "zmq", "distributed", "numpy", "matplotlib"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:
            v[mod] = None
    try:
        import zmq
        v["libzmq"] = zmq.zmq_version()
    except Exception:
        pass
    try:
        v["git_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    ctl = find_binary("ipcontroller")
    if ctl:
        try:
            v["ipcontroller"] = subprocess.run([str(ctl), "--version"], capture_output=True,
                                               text=True, timeout=10).stdout.strip()
        except Exception:
            v["ipcontroller"] = "?"
    return v


def tmpdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def rmtree(p: Path):
    shutil.rmtree(p, ignore_errors=True)
