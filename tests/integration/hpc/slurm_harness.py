#!/usr/bin/python3
"""A real single-node Slurm cluster for tests, private to one temporary directory.

``LocalSlurm`` (root only) creates a temporary directory holding everything the cluster needs:

  munge/   a private munged: its own key, socket, pid, seed and log files
  etc/     slurm.conf (AuthInfo points at the private munge socket)
  state/   slurmctld's StateSaveLocation
  spool/   slurmd's SlurmdSpoolDir
  log/     slurmctld.log, slurmd.log, munged.log
  jobs/    a scratch directory tests may use for job scripts and output

It starts munged, slurmctld and slurmd in the foreground as our own children (so stop() knows
every pid), waits until ``sinfo`` shows the node idle and a trivial ``sbatch --wrap`` job has
run, and exposes ``env`` (a copy of os.environ with SLURM_CONF set) for the Slurm clients.
``stop()`` cancels every job, stops the daemons, kills any slurmstepd left over, and removes the
directory. Nothing outside the directory is touched: the system's /etc/slurm, /etc/munge and
/run/munge are neither read nor written.

The node declares CPUs=8 on whatever machine this runs on (SlurmdParameters=config_overrides),
so an 8-task job fits on a 2-core box.

CLI: ``slurm_harness.py start`` starts a cluster, prints ``export SLURM_CONF=...`` and the
directory, and leaves it running; ``slurm_harness.py stop DIR`` stops the cluster in DIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SBIN = {name: shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
        for name in ("munged", "slurmctld", "slurmd")}
CLIENTS = ("sbatch", "srun", "squeue", "scancel", "sinfo", "scontrol")

# Every process the harness starts carries this variable (with the cluster's own value) in its
# environment; slurmstepd inherits slurmd's, which is how stop() finds stray step daemons.
TAG_VAR = "IPP_SLURM_HARNESS_TAG"


class SlurmHarnessError(RuntimeError):
    """A daemon failed to start or the cluster did not become usable; the message has log tails."""


def available() -> str | None:
    """None when a LocalSlurm can be started here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "LocalSlurm needs root (SlurmUser=root, SlurmdUser=root)"
    missing = [n for n, p in SBIN.items() if p is None]
    missing += [n for n in CLIENTS if shutil.which(n) is None]
    if missing:
        return "missing Slurm/munge programs: " + " ".join(missing) + " (Debian: slurm-wlm munge)"
    return None


def free_port() -> int:
    # Slurm needs its ports written into slurm.conf before the daemons start, so there is no
    # "bind :0 and read it back" here; the window between close() and slurmctld's bind is tiny.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"({path}: {e})"
    return "\n".join(text[-lines:]) or f"({path} is empty)"


def _proc_environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _proc_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _uses_dir(pid: int, root: str) -> bool:
    """Whether the process's cwd or one of its open files lies under root."""
    prefix = root.rstrip("/") + "/"
    links = [f"/proc/{pid}/cwd"]
    try:
        links += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        pass
    for link in links:
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target == root or target.startswith(prefix):
            return True
    return False


def tagged_processes(tag: str, root: str | os.PathLike | None = None) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live process that belongs to one harness cluster.

    That is: its environment holds TAG_VAR=tag (the daemons, and jobs submitted with the
    harness's env), or, given root, it is a slurmstepd using a file under root (slurmd starts
    step daemons with a clean environment, but they keep the spool directory and log open).
    """
    needle = f"{TAG_VAR}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid():
            continue
        cmd = _proc_cmdline(pid)
        if not cmd:  # zombie or kernel thread
            continue
        if needle in _proc_environ(pid).split(b"\0") or (
                root is not None and cmd.startswith("slurmstepd") and _uses_dir(pid, str(root))):
            found.append((pid, cmd))
    return found


class LocalSlurm:
    """One private Slurm cluster (munged + slurmctld + slurmd) on this host.

    Owned by the test process that created it; lives from start() to stop() (also a context
    manager). Not thread-safe. Attributes after start(): root, conf (slurm.conf path), env (for
    clients), node, partition ("debug"), cpus, jobs_dir.
    """

    def __init__(self, cpus: int = 8, partition: str = "debug", root: str | os.PathLike | None = None,
                 start_timeout: float = 60.0, keep_files: bool = False):
        self.cpus = cpus
        self.partition = partition
        self.start_timeout = start_timeout
        self.keep_files = keep_files
        self.node = socket.gethostname().split(".")[0]
        self.tag = os.urandom(6).hex()
        self._given_root = Path(root) if root is not None else None
        self.root: Path | None = None
        self.used_root: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}

    # -- paths ---------------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def log(self, name: str) -> Path:
        return self.root / "log" / f"{name}.log"

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> "LocalSlurm":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "LocalSlurm":
        reason = available()
        if reason:
            raise SlurmHarnessError(reason)
        if self._given_root is not None:
            self._given_root.mkdir(parents=True, exist_ok=False)
            self.root = self._given_root
        else:
            self.root = Path(tempfile.mkdtemp(prefix="ipp-slurm-"))
        self.used_root = self.root  # kept after stop() so leftovers() can still look
        os.chmod(self.root, 0o755)  # job steps (as root) and munged's directory checks
        for d in ("munge", "etc", "state", "spool", "log", "jobs"):
            (self.root / d).mkdir()
        os.chmod(self.root / "munge", 0o700)
        os.chmod(self.jobs_dir, 0o1777)
        try:
            self._start_munged()
            self._write_conf()
            self.env = dict(os.environ)
            self.env["SLURM_CONF"] = str(self.conf)
            self.env[TAG_VAR] = self.tag  # jobs submitted with env carry it: stop() finds strays
            for var in [v for v in self.env if v.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_"))]:
                if var != "SLURM_CONF":
                    del self.env[var]
            self._start_daemon("slurmctld", [SBIN["slurmctld"], "-D", "-f", str(self.conf),
                                             "-L", str(self.log("slurmctld"))])
            self._wait_for(lambda: self._run(["scontrol", "ping"], check=False).returncode == 0
                           and "UP" in self._run(["scontrol", "ping"], check=False).stdout,
                           "slurmctld answering 'scontrol ping'", ["slurmctld"])
            self._start_daemon("slurmd", [SBIN["slurmd"], "-D", "-f", str(self.conf),
                                          "-N", self.node, "-L", str(self.log("slurmd"))])
            self._wait_for(self._node_idle, f"node {self.node} idle in sinfo", ["slurmd", "slurmctld"])
            self._smoke_job()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Cancel all jobs, stop slurmd, slurmctld and munged, remove the directory. Idempotent."""
        if self.root is None:
            return
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", "--quiet", "--partition", self.partition], check=False, timeout=15)
            # Let slurmd deliver the signals before it goes away.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._run(
                    ["squeue", "-h", "-o", "%i"], check=False, timeout=10).stdout.strip():
                time.sleep(0.2)
        for name in ("slurmd", "slurmctld"):
            self._stop_proc(name)
        # slurmstepd and job processes outlive slurmd by design; they carry our tag.
        self._kill_tagged()
        self._stop_proc("munged")
        self._kill_tagged()
        if not self.keep_files:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def leftovers(self) -> list[tuple[int, str]]:
        """Processes started by this harness (or their descendants) that are still alive."""
        return tagged_processes(self.tag, self.used_root)

    # -- client helpers ------------------------------------------------------------------------
    def run(self, args: list[str], check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Run a Slurm client command with this cluster's SLURM_CONF; returns text output."""
        return self._run(args, check=check, timeout=timeout, **kw)

    def sbatch(self, *args: str, script: str | None = None, cwd: str | os.PathLike | None = None) -> int:
        """Submit (script text via stdin, or --wrap in args); return the job id."""
        cp = self._run(["sbatch", "--parsable", *args], input=script, cwd=cwd or self.jobs_dir)
        return int(cp.stdout.strip().split(";")[0])

    def squeue_ids(self) -> list[int]:
        out = self._run(["squeue", "-h", "-o", "%i"]).stdout
        return [int(x) for x in out.split()]

    def job_state(self, job_id: int) -> str:
        """The job's state (PENDING, RUNNING, COMPLETED, CANCELLED, FAILED...), from scontrol."""
        cp = self._run(["scontrol", "show", "job", str(job_id)], check=False)
        for field in cp.stdout.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def wait_job(self, job_id: int, timeout: float = 60,
                 states: tuple[str, ...] = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                            "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                                            "DEADLINE", "PREEMPTED")) -> str:
        """Wait until the job reaches one of `states` (default: any final state); return it."""
        deadline = time.monotonic() + timeout
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} still {state} after {timeout}s\n{self.logs()}")

    def logs(self, lines: int = 30) -> str:
        if self.root is None:
            return "(cluster stopped)"
        return "\n".join(f"--- {n}.log (last {lines} lines) ---\n{tail(self.log(n), lines)}"
                         for n in ("munged", "slurmctld", "slurmd"))

    # -- internals -----------------------------------------------------------------------------
    def _run(self, args, check=True, timeout=60, **kw) -> subprocess.CompletedProcess:
        env = self.env or dict(os.environ, SLURM_CONF=str(self.conf))
        cp = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, **kw)
        if check and cp.returncode != 0:
            raise SlurmHarnessError(f"{' '.join(args)} exited {cp.returncode}: {cp.stderr.strip()}")
        return cp

    def _daemon_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}
        env[TAG_VAR] = self.tag
        env["SLURM_CONF"] = str(self.conf)
        return env

    def _start_daemon(self, name: str, argv: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.stdout", "wb")
        try:
            self.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                env=self._daemon_env(), start_new_session=True, cwd=self.root)
        finally:
            out.close()
        time.sleep(0.1)
        self._check_alive([name])

    def _check_alive(self, names: list[str]) -> None:
        for name in names:
            p = self.procs.get(name)
            if p is not None and p.poll() is not None:
                raise SlurmHarnessError(
                    f"{name} exited with status {p.returncode} during startup\n"
                    f"--- {name} stdout/stderr ---\n{tail(self.root / 'log' / f'{name}.stdout')}\n"
                    f"--- {name}.log ---\n{tail(self.log(name))}")

    def _wait_for(self, pred, what: str, daemons: list[str]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_alive(daemons)
            try:
                if pred():
                    return
            except (subprocess.SubprocessError, OSError):
                pass
            time.sleep(0.2)
        raise SlurmHarnessError(f"timed out after {self.start_timeout:.0f}s waiting for {what}\n{self.logs()}")

    def _start_munged(self) -> None:
        m = self.root / "munge"
        key = m / "munge.key"
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self._start_daemon("munged", [
            SBIN["munged"], "--foreground", "--force",
            f"--socket={self.munge_socket}", f"--key-file={key}", f"--pid-file={m / 'munged.pid'}",
            f"--log-file={self.log('munged')}", f"--seed-file={m / 'munged.seed'}",
        ])
        self._wait_for(self.munge_socket.exists, f"munged socket {self.munge_socket}", ["munged"])

    def _write_conf(self) -> None:
        r = self.root
        ctld_port, slurmd_port = free_port(), free_port()
        while slurmd_port == ctld_port:
            slurmd_port = free_port()
        lines = [
            "# Written by tests/integration/hpc/slurm_harness.py: a private single-node cluster.",
            "ClusterName=ipptest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            # Short timers: tests start and stop clusters and jobs quickly.
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=2",
            "MinJobAge=2",
            "MessageTimeout=10",
            "SchedulerParameters=sched_interval=1",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE "
            "OverSubscribe=NO State=UP",
        ]
        self.conf.write_text("\n".join(line for line in lines if line) + "\n")
        # slurmd reads cgroup.conf next to slurm.conf when present; with proctrack/linuxproc and
        # task/none no cgroup plugin is loaded, but an explicit file keeps it from probing.
        (r / "etc" / "cgroup.conf").write_text("CgroupPlugin=autodetect\nIgnoreSystemd=yes\n")

    def _node_idle(self) -> bool:
        cp = self._run(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"], check=False)
        return cp.returncode == 0 and cp.stdout.strip() == "idle"

    def _smoke_job(self) -> None:
        out = self.jobs_dir / "harness-smoke.out"
        try:
            job = self.sbatch("--wrap", "echo harness-ok", "-o", str(out))
        except SlurmHarnessError as e:
            raise SlurmHarnessError(f"smoke job submission failed: {e}\n{self.logs()}") from None
        state = self.wait_job(job, timeout=self.start_timeout)
        text = out.read_text() if out.exists() else ""
        if state != "COMPLETED" or "harness-ok" not in text:
            raise SlurmHarnessError(f"smoke job {job} ended {state} with output {text!r}\n{self.logs()}")
        out.unlink()

    def _stop_proc(self, name: str, timeout: float = 10) -> None:
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def _kill_tagged(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            procs = self.leftovers()
            if not procs:
                return
            for pid, _ in procs:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and self.leftovers():
                time.sleep(0.1)


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "start":
        s = LocalSlurm(root=argv[1] if len(argv) > 1 else None)
        s.start()
        # Forget the Popen objects: the daemons keep running after we exit.
        (s.root / "harness.tag").write_text(s.tag)
        (s.root / "harness.pids").write_text(" ".join(str(p.pid) for p in s.procs.values()))
        print(f"export SLURM_CONF={s.conf}")
        print(f"# stop with: {sys.argv[0]} stop {s.root}")
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        root = Path(argv[1])
        conf = root / "etc" / "slurm.conf"
        env = dict(os.environ, SLURM_CONF=str(conf))
        subprocess.run(["scancel", "--full", "--quiet"], env=env, capture_output=True, timeout=15)
        time.sleep(1)
        tag = (root / "harness.tag").read_text().strip()
        for pid in [int(x) for x in (root / "harness.pids").read_text().split()]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(1)
        for pid, _ in tagged_processes(tag, root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)
        return 0
    print(f"usage: {sys.argv[0]} start [DIR] | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
