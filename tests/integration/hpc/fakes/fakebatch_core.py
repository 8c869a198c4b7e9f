"""Shared implementation of the recording batch-system fakes (qsub, bsub, condor_submit, ...).

Each fake command in this directory is a two-line script calling ``main(<its name>)``. A call:

1. records itself as one JSON line appended to $FAKE_BATCH_LOG (default
   $FAKE_BATCH_DIR/calls.jsonl): the argv, cwd, the IPP_* environment it saw, and for submit
   commands the script text it was given, plus what it printed and its exit status;
2. behaves like the real scheduler's command, on this machine: a submit starts the job's tasks
   in the background (each task in its own session, output to the file the script's directives
   name), a delete kills the tasks' process groups, a status command prints the real format.

Job state lives in $FAKE_BATCH_DIR/jobs/<id>.json (the task pids with their start times, so a
reused pid is not mistaken for a task); ids come from $FAKE_BATCH_DIR/next_id.

Environment:
  FAKE_BATCH_DIR        required: state, default output files, job id counter
  FAKE_BATCH_LOG        the JSON-lines record (default $FAKE_BATCH_DIR/calls.jsonl)
  FAKE_BATCH_SYSTEM     pbs (default) or sge: the dialect of qsub/qdel/qstat/qsig
  FAKE_BATCH_REJECT     a submit prints this on stderr and exits 1 (nothing is started)
  FAKE_BATCH_REJECT_<CMD>  the same for any one command, e.g. FAKE_BATCH_REJECT_QDEL
  FAKE_BATCH_HOLD=1     submits queue the job without starting it (state queued/pending/idle)
  FAKE_BATCH_SERVER     the server/host name in ids and listings (default fakehost)
  FAKE_BATCH_FIRST_ID   the first job id handed out (default 1001)

Simplifications, all deliberate: every task runs in the submitter's working directory with the
submitter's whole environment (as with qsub -V, bsub -env all, condor getenv = True); stderr
goes to the stdout file unless an error file is named; tasks of an array append to one output
file unless its name has a per-task placeholder (LSF %I, HTCondor $(Process)).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

SUBMIT = {"qsub", "bsub", "condor_submit"}

# Options that take no value, per dialect; every other "-x" option takes the next word.
PBS_FLAGS = {"-V", "-h", "-I", "-z", "-x", "-X", "-f", "-F"}
SGE_FLAGS = {"-V", "-cwd", "-terse", "-h", "-notify", "-now_y", "-sync_y", "-verify", "-clear"}
LSF_FLAGS = {"-B", "-H", "-I", "-Ip", "-Is", "-K", "-N", "-r", "-rn", "-x", "-env_all"}


class Fail(Exception):
    """A command failure: message for stderr, exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status


# -- plumbing -------------------------------------------------------------------------------------
class Ctx:
    def __init__(self, cmd: str, argv: list[str]):
        self.cmd = cmd
        self.argv = argv
        d = os.environ.get("FAKE_BATCH_DIR")
        if not d:
            raise Fail(f"{cmd} (fake): FAKE_BATCH_DIR is not set", 2)
        self.dir = Path(d)
        self.jobs = self.dir / "jobs"
        self.jobs.mkdir(parents=True, exist_ok=True)
        self.log = Path(os.environ.get("FAKE_BATCH_LOG") or self.dir / "calls.jsonl")
        self.server = os.environ.get("FAKE_BATCH_SERVER", "fakehost")
        if cmd.startswith("q"):
            self.system = os.environ.get("FAKE_BATCH_SYSTEM", "pbs").lower()
            if self.system not in ("pbs", "sge"):
                raise Fail(f"{cmd} (fake): FAKE_BATCH_SYSTEM must be pbs or sge, not {self.system!r}", 2)
        elif cmd.startswith("b"):
            self.system = "lsf"
        else:
            self.system = "htcondor"
        self.out: list[str] = []
        self.err: list[str] = []
        self.record: dict = {
            "time": time.time(),
            "cmd": cmd,
            "system": self.system,
            "argv": [cmd] + argv,
            "cwd": os.getcwd(),
            "env": {k: v for k, v in os.environ.items() if k.startswith("IPP_")},
        }

    def print(self, text: str) -> None:
        self.out.append(text + "\n")

    def eprint(self, text: str) -> None:
        self.err.append(text + "\n")

    def new_id(self) -> int:
        counter = self.dir / "next_id"
        with open(counter, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            text = f.read().strip()
            job_id = int(text) if text else int(os.environ.get("FAKE_BATCH_FIRST_ID", "1001"))
            f.seek(0)
            f.truncate()
            f.write(str(job_id + 1))
        return job_id

    def state_path(self, job_id) -> Path:
        return self.jobs / f"{job_id}.json"

    def load(self, job_id) -> dict | None:
        try:
            return json.loads(self.state_path(job_id).read_text())
        except (OSError, ValueError):
            return None

    def save(self, job: dict) -> None:
        tmp = self.state_path(job["id"]).with_suffix(".tmp")
        tmp.write_text(json.dumps(job, indent=1))
        os.replace(tmp, self.state_path(job["id"]))

    def all_jobs(self, system: str | None = None) -> list[dict]:
        """Every job (of one system, when given), by id."""
        jobs = []
        for p in sorted(self.jobs.glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0):
            job = self.load(p.stem)
            if job and (system is None or job["system"] == system):
                jobs.append(job)
        return jobs

    def finish(self, status: int) -> int:
        self.record["stdout"] = "".join(self.out)
        self.record["stderr"] = "".join(self.err)
        self.record["exit"] = status
        line = json.dumps(self.record) + "\n"
        with open(self.log, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(line)
        sys.stdout.write("".join(self.out))
        sys.stdout.flush()
        sys.stderr.write("".join(self.err))
        sys.stderr.flush()
        return status


# -- processes ------------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a live process, None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], fields[19]


def task_alive(task: dict) -> bool:
    st = _stat(task["pid"])
    return st is not None and st[0] not in ("Z", "X") and st[1] == task["start"]


def task_exit(ctx: Ctx, job: dict, task: dict) -> int | None:
    try:
        return int((ctx.jobs / f"{job['id']}.{task['index']}.exit").read_text().strip())
    except (OSError, ValueError):
        return None


def task_running(ctx: Ctx, job: dict, task: dict) -> bool:
    """Alive, or exited but not yet recorded: between the task's exit and its keeper writing the
    exit file the task is a zombie, and counting it finished then would call the job failed."""
    if task_alive(task):
        return True
    if task_exit(ctx, job, task) is not None:
        return False
    keeper = _stat(task["keeper"]) if task.get("keeper") else None
    return keeper is not None and keeper[0] not in ("Z", "X")


def job_status(ctx: Ctx, job: dict) -> str:
    """queued, running, done (every task exited 0), failed, or cancelled."""
    if job.get("cancelled"):
        return "cancelled"
    if job.get("held"):
        return "queued"
    if any(task_running(ctx, job, t) for t in job["tasks"]):
        return "running"
    codes = [task_exit(ctx, job, t) for t in job["tasks"]]
    return "done" if all(c == 0 for c in codes) else "failed"


def start_task(ctx: Ctx, job: dict, index, argv: list[str], env: dict, stdout: str, stderr: str | None,
               cwd: str) -> dict:
    """Start one task detached: a keeper process (own session) runs argv in its own process
    group, waits for it and writes its exit status to jobs/<id>.<index>.exit. The recorded pid
    is the task's; signals go to its process group only, so the keeper survives them."""
    exit_file = ctx.jobs / f"{job['id']}.{index}.exit"
    for path in (stdout, stderr):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if stderr else out
    devnull = os.open(os.devnull, os.O_RDWR)
    rfd, wfd = os.pipe()
    keeper = os.fork()
    if keeper == 0:
        status = 127
        try:
            os.close(rfd)
            os.setsid()
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.dup2(err, 2)
            task = os.fork()
            if task == 0:
                try:
                    os.setpgid(0, 0)
                    # A job starts with default signal dispositions, as under a real batch
                    # system, even when the submitting shell ran in the background (SIGINT and
                    # SIGQUIT ignored, which a shell's trap then cannot undo).
                    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
                        signal.signal(sig, signal.SIG_DFL)
                    os.dup2(out, 1)
                    os.dup2(err, 2)
                    os.closerange(3, 65536)
                    os.chdir(cwd)
                    os.execvpe(argv[0], argv, env)
                except BaseException as e:  # noqa: BLE001 - never return into the fake's code
                    os.write(2, f"fakebatch: cannot start task {argv!r}: {e}\n".encode())
                os._exit(127)
            try:
                os.setpgid(task, task)
            except OSError:
                pass  # the task already did it, or already exited
            os.write(wfd, str(task).encode())
            os.close(wfd)
            for fd in {out, err, devnull}:
                if fd > 2:
                    os.close(fd)
            _, wstatus = os.waitpid(task, 0)
            code = os.waitstatus_to_exitcode(wstatus)
            status = code if code >= 0 else 128 - code
            with open(exit_file, "w") as f:
                f.write(f"{status}\n")
            status = 0
        except BaseException:  # noqa: BLE001
            pass
        os._exit(status)
    os.close(wfd)
    with os.fdopen(rfd) as r:
        text = r.read()
    for fd in {out, err, devnull}:
        os.close(fd)
    if not text:
        raise Fail(f"{ctx.cmd} (fake): could not start task {index} of job {job['id']}", 3)
    pid = int(text)
    st = _stat(pid)
    return {"index": index, "pid": pid, "start": st[1] if st else "", "keeper": keeper, "argv": argv,
            "stdout": stdout, "stderr": stderr or stdout}


def signal_job(job: dict, sig: int) -> None:
    for t in job["tasks"]:
        if task_alive(t):
            try:
                os.killpg(t["pid"], sig)
            except ProcessLookupError:
                pass


def kill_job(ctx: Ctx, job: dict) -> None:
    job["cancelled"] = True
    ctx.save(job)
    signal_job(job, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(task_alive(t) for t in job["tasks"]):
        time.sleep(0.05)
    signal_job(job, signal.SIGKILL)


def parse_signal(text: str) -> int:
    t = text.upper()
    if t.isdigit():
        return int(t)
    if not t.startswith("SIG"):
        t = "SIG" + t
    try:
        return int(getattr(signal.Signals, t))
    except AttributeError:
        raise Fail(f"invalid signal {text}") from None


# -- option parsing -------------------------------------------------------------------------------
def parse_opts(words: list[str], flags: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split `words` into {option: [values]} and the positional rest (from the first non-option)."""
    opts: dict[str, list[str]] = {}
    i = 0
    while i < len(words):
        w = words[i]
        if not w.startswith("-") or w == "-":
            break
        if w in flags:
            opts.setdefault(w, []).append("")
            i += 1
        elif i + 1 < len(words):
            opts.setdefault(w, []).append(words[i + 1])
            i += 2
        else:
            raise Fail(f"option {w} requires an argument", 2)
    return opts, words[i:]


def directive_opts(script: str, prefix: str, flags: set[str]) -> dict[str, list[str]]:
    """Options from the script's directive lines (e.g. '#PBS -q batch'), in order.

    Leading whitespace before the directive is accepted (ipyparallel's LSF templates indent
    theirs); scanning stops at the first command line, as the real schedulers do.
    """
    opts: dict[str, list[str]] = {}
    for line in script.splitlines():
        s = line.strip()
        if not s or (s.startswith("#") and not s.startswith(prefix)):
            continue
        if not s.startswith(prefix):
            break
        try:
            words = shlex.split(s[len(prefix):], comments=False)
        except ValueError:
            continue
        o, _ = parse_opts(words, flags)
        for k, v in o.items():
            opts.setdefault(k, []).extend(v)
    return opts


def merged(directives: dict, cli: dict) -> dict:
    """Command-line options win over directives, as in qsub/bsub."""
    out = dict(directives)
    out.update(cli)
    return out


def last(opts: dict, *names: str) -> str | None:
    for n in names:
        if n in opts:
            return opts[n][-1]
    return None


def parse_range(spec: str) -> list[int]:
    """'1-4', '1-10:2', '3', '1-4%2' -> indices."""
    spec = spec.split("%", 1)[0]
    m = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", spec.strip())
    if not m:
        raise Fail(f"invalid array request: {spec}", 2)
    first = int(m.group(1))
    lastv = int(m.group(2)) if m.group(2) else first
    step = int(m.group(3)) if m.group(3) else 1
    if lastv < first or step < 1:
        raise Fail(f"invalid array request: {spec}", 2)
    return list(range(first, lastv + 1, step))


def interpreter_argv(script_path: str, script: str, shell: str | None) -> list[str]:
    if shell:
        return [shell, script_path]
    if script.startswith("#!"):
        return shlex.split(script[2:].splitlines()[0]) + [script_path]
    return ["/bin/sh", script_path]


def read_script(ctx: Ctx, positional: list[str]) -> tuple[str, str | None]:
    """(script text, path given or None) from the first positional argument or stdin."""
    if positional:
        path = positional[0]
        try:
            return Path(path).read_text(), os.path.abspath(path)
        except OSError as e:
            raise Fail(f"{ctx.cmd}: script file {path}: {e.strerror}", 1) from None
    ctx.record["stdin"] = True
    return sys.stdin.read(), None


def store_script(ctx: Ctx, job_id: int, script: str) -> str:
    path = ctx.jobs / f"{job_id}.script"
    path.write_text(script)
    os.chmod(path, 0o755)
    return str(path)


def reject_if_asked(ctx: Ctx) -> None:
    msg = os.environ.get(f"FAKE_BATCH_REJECT_{ctx.cmd.upper()}")
    if msg is None and ctx.cmd in SUBMIT:
        msg = os.environ.get("FAKE_BATCH_REJECT")
    if msg:
        ctx.record["rejected"] = msg
        raise Fail(msg, 1)


def held() -> bool:
    return os.environ.get("FAKE_BATCH_HOLD", "") not in ("", "0")


def ts(t: float, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(t))


def find_job(ctx: Ctx, text: str) -> dict | None:
    """The job an id names ('1234', '1234.host', '1234[].host', '1234[2]', '1234.0'), if it is
    one of this command's system: qdel does not see LSF jobs."""
    m = re.match(r"(\d+)", text)
    job = ctx.load(int(m.group(1))) if m else None
    return job if job is not None and job["system"] == ctx.system else None


# -- PBS / SGE ------------------------------------------------------------------------------------
def qsub(ctx: Ctx) -> None:
    sge = ctx.system == "sge"
    flags = SGE_FLAGS if sge else PBS_FLAGS
    cli, positional = parse_opts(ctx.argv, flags)
    script, given = read_script(ctx, positional)
    ctx.record["script"] = script
    ctx.record["script_path"] = given
    opts = merged(directive_opts(script, "#$" if sge else "#PBS", flags), cli)
    ctx.record["options"] = opts
    reject_if_asked(ctx)
    job_id = ctx.new_id()
    name = last(opts, "-N") or (os.path.basename(given) if given else "STDIN")
    array = last(opts, "-t") if sge else last(opts, "-t", "-J")
    indices = parse_range(array) if array else [None]
    stored = store_script(ctx, job_id, script)
    argv = interpreter_argv(stored, script, last(opts, "-S"))
    cwd = last(opts, "-wd") or os.getcwd()
    full_id = f"{job_id}[].{ctx.server}" if (array and not sge) else f"{job_id}.{ctx.server}"
    job = {"id": job_id, "system": ctx.system, "name": name, "queue": last(opts, "-q") or
           ("all.q" if sge else "batch"), "submitted": time.time(), "array": array,
           "full_id": full_id, "tasks": [], "held": held(), "user": _user()}
    ctx.save(job)
    joined = (last(opts, "-j") or "").lower() in ("oe", "y", "yes", "true")
    for idx in indices:
        suffix = f"-{idx}" if idx is not None else ""
        default = ctx.dir / f"{name}.o{job_id}{suffix}"
        stdout = last(opts, "-o") or str(default)
        stderr = None if joined else last(opts, "-e")
        env = dict(os.environ)
        if sge:
            env.update(JOB_ID=str(job_id), JOB_NAME=name, QUEUE=job["queue"],
                       SGE_TASK_ID=str(idx) if idx is not None else "undefined",
                       SGE_O_WORKDIR=os.getcwd())
            if idx is not None:
                env.update(SGE_TASK_FIRST=str(indices[0]), SGE_TASK_LAST=str(indices[-1]),
                           SGE_TASK_STEPSIZE=str(indices[1] - indices[0]) if len(indices) > 1 else "1")
        else:
            env.update(PBS_JOBID=full_id if idx is None else f"{job_id}[{idx}].{ctx.server}",
                       PBS_JOBNAME=name, PBS_QUEUE=job["queue"], PBS_O_WORKDIR=os.getcwd(),
                       PBS_ENVIRONMENT="PBS_BATCH")
            if idx is not None:
                env.update(PBS_ARRAYID=str(idx), PBS_ARRAY_INDEX=str(idx))
        env.update(FAKE_BATCH_JOB_ID=str(job_id), FAKE_BATCH_TASK_INDEX=str(idx if idx is not None else 0))
        if not job["held"]:
            job["tasks"].append(start_task(ctx, job, idx if idx is not None else 0, argv, env, stdout, stderr, cwd))
        else:
            job["tasks"].append({"index": idx if idx is not None else 0, "pid": 0, "start": "",
                                 "argv": argv, "stdout": stdout, "stderr": stderr or stdout})
    ctx.save(job)
    ctx.record["job_id"] = str(job_id)
    if sge:
        if "-terse" in opts:
            ctx.print(f"{job_id}.{array_desc(indices)}" if array else str(job_id))
        elif array:
            ctx.print(f'Your job-array {job_id}.{array_desc(indices)} ("{name}") has been submitted')
        else:
            ctx.print(f'Your job {job_id} ("{name}") has been submitted')
    else:
        ctx.print(full_id)


def array_desc(indices: list[int]) -> str:
    step = indices[1] - indices[0] if len(indices) > 1 else 1
    return f"{indices[0]}-{indices[-1]}:{step}"


def _user() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def qdel(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    _, ids = parse_opts(ctx.argv, set())
    if not ids:
        raise Fail("usage: qdel [-W delay] job_identifier...", 2)
    status = 0
    for text in ids:
        job = find_job(ctx, text)
        if job is None or job_status(ctx, job) in ("done", "failed", "cancelled"):
            if ctx.system == "sge":
                ctx.eprint(f'denied: job "{text}" does not exist')
            else:
                ctx.eprint(f"qdel: Unknown Job Id {text}")
            status = 1 if ctx.system == "sge" else 153
            continue
        kill_job(ctx, job)
        if ctx.system == "sge":
            ctx.print(f"{_user()} has registered the job {job['id']} for deletion")
    if status:
        raise Fail("", status)


def qsig(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    opts, ids = parse_opts(ctx.argv, set())
    sig = parse_signal(last(opts, "-s") or "SIGTERM")
    if not ids:
        raise Fail("usage: qsig [-s signal] job_identifier...", 2)
    ctx.record["signal"] = sig
    for text in ids:
        job = find_job(ctx, text)
        if job is None or job_status(ctx, job) != "running":
            raise Fail(f"qsig: Unknown Job Id {text}", 153)
        signal_job(job, sig)


def qstat(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    sge = ctx.system == "sge"
    opts, ids = parse_opts(ctx.argv, {"-f", "-a", "-r", "-s", "-x", "-t", "-ext", "-g", "-xml"})
    if sge and "-j" in opts:
        ids = [opts["-j"][-1]]
        job = find_job(ctx, ids[0])
        if job is None or job_status(ctx, job) in ("done", "failed", "cancelled"):
            raise Fail(f"Following jobs do not exist: \n{ids[0]}", 1)
        ctx.print("=" * 62)
        ctx.print(f"job_number:                 {job['id']}")
        ctx.print(f"job_name:                   {job['name']}")
        ctx.print(f"owner:                      {job['user']}")
        ctx.print(f"hard_queue_list:            {job['queue']}")
        ctx.print(f"job-array tasks:            {job['array']}" if job["array"] else "")
        return
    jobs = ctx.all_jobs(ctx.system)
    if ids:
        wanted = []
        for text in ids:
            job = find_job(ctx, text)
            if job is None or (sge and job_status(ctx, job) in ("done", "failed", "cancelled")):
                raise Fail(f"qstat: Unknown Job Id {text}" if not sge
                           else f"Following jobs do not exist: \n{text}", 153 if not sge else 1)
            wanted.append(job)
        jobs = wanted
    if sge:
        jobs = [j for j in jobs if job_status(ctx, j) in ("queued", "running")]
        if not jobs:
            return
        ctx.print("job-ID  prior   name       user         state submit/start at     queue"
                  "                          slots ja-task-ID ")
        ctx.print("-" * 113)
        for j in jobs:
            st = "qw" if job_status(ctx, j) == "queued" else "r"
            when = ts(j["submitted"], "%m/%d/%Y %H:%M:%S")
            queue = "" if st == "qw" else f"{j['queue']}@{ctx.server}"
            for t in (j["tasks"] if st == "r" else j["tasks"][:1]):
                if st == "r" and not task_alive(t):
                    continue
                task = (str(t["index"]) if st == "r" else array_desc([x["index"] for x in j["tasks"]])) \
                    if j["array"] else ""
                ctx.print(f"{j['id']:>7} 0.55500 {j['name'][:10]:<10} {j['user'][:12]:<12} {st:<5} "
                          f"{when} {queue:<30} {1:>5} {task}")
        return
    if not jobs:
        return
    ctx.print(f"{'Job ID':<25} {'Name':<16} {'User':<15} {'Time Use':<8} S {'Queue':<5}")
    ctx.print(f"{'-' * 25} {'-' * 16} {'-' * 15} {'-' * 8} - {'-' * 5}")
    letters = {"queued": "Q", "running": "R", "done": "C", "failed": "C", "cancelled": "C"}
    for j in jobs:
        s = letters[job_status(ctx, j)]
        ctx.print(f"{j['full_id'][:25]:<25} {j['name'][:16]:<16} {j['user'][:15]:<15} "
                  f"{'00:00:00' if s != 'Q' else '0':>8} {s} {j['queue']:<5}")


# -- LSF ------------------------------------------------------------------------------------------
def bsub(ctx: Ctx) -> None:
    cli, positional = parse_opts(ctx.argv, LSF_FLAGS)
    if positional:  # bsub [options] command [args]: the command is the job
        script = shlex.join(positional) + "\n"
        ctx.record["command"] = positional
    else:
        script = sys.stdin.read()
        ctx.record["stdin"] = True
    ctx.record["script"] = script
    opts = merged(directive_opts(script, "#BSUB", LSF_FLAGS), cli)
    ctx.record["options"] = opts
    reject_if_asked(ctx)
    job_id = ctx.new_id()
    jname = last(opts, "-J") or (positional[0] if positional else "NONAME")
    m = re.fullmatch(r"(.*)\[([\d\-:,%]+)\]", jname)
    name, indices = (m.group(1), parse_range(m.group(2))) if m else (jname, [None])
    queue = last(opts, "-q")
    stored = store_script(ctx, job_id, script)
    argv = interpreter_argv(stored, script, None)
    job = {"id": job_id, "system": "lsf", "name": jname, "queue": queue or "normal",
           "submitted": time.time(), "array": m.group(2) if m else None, "full_id": str(job_id),
           "tasks": [], "held": held(), "user": _user()}
    for idx in indices:
        def expand(p):
            return p.replace("%J", str(job_id)).replace("%I", str(idx if idx is not None else 0)) if p else p
        stdout = expand(last(opts, "-o", "-oo")) or str(ctx.dir / (f"{name}.{job_id}" + (f".{idx}" if idx else "") + ".out"))
        stderr = expand(last(opts, "-e", "-eo"))
        env = dict(os.environ, LSB_JOBID=str(job_id), LSB_JOBNAME=jname,
                   LSB_JOBINDEX=str(idx if idx is not None else 0), LSB_QUEUE=job["queue"],
                   FAKE_BATCH_JOB_ID=str(job_id), FAKE_BATCH_TASK_INDEX=str(idx if idx is not None else 0))
        if not job["held"]:
            job["tasks"].append(start_task(ctx, job, idx or 0, argv, env, stdout, stderr, os.getcwd()))
        else:
            job["tasks"].append({"index": idx or 0, "pid": 0, "start": "", "argv": argv,
                                 "stdout": stdout, "stderr": stderr or stdout})
    ctx.save(job)
    ctx.record["job_id"] = str(job_id)
    if queue:
        ctx.print(f"Job <{job_id}> is submitted to queue <{queue}>.")
    else:
        ctx.print(f"Job <{job_id}> is submitted to default queue <normal>.")


def bkill(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    opts, ids = parse_opts(ctx.argv, {"-r"})
    sig = parse_signal(last(opts, "-s")) if "-s" in opts else None
    ctx.record["signal"] = sig
    if not ids:
        raise Fail("bkill: no job id given", 255)
    status = 0
    for text in ids:
        job = find_job(ctx, text)
        if job is None:
            ctx.eprint(f"Job <{text}>: No matching job found")
            status = 255
        elif job_status(ctx, job) in ("done", "failed", "cancelled"):
            ctx.eprint(f"Job <{text}>: Job has already finished")
            status = 255
        elif sig is None:
            kill_job(ctx, job)
            ctx.print(f"Job <{job['id']}> is being terminated")
        else:
            signal_job(job, sig)
            ctx.print(f"Job <{job['id']}> is being signaled")
    if status:
        raise Fail("", status)


def bjobs(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    opts, ids = parse_opts(ctx.argv, {"-a", "-l", "-w", "-W", "-d", "-p", "-r", "-noheader"})
    jobs = ctx.all_jobs(ctx.system)
    if ids:
        wanted = []
        for text in ids:
            job = find_job(ctx, text)
            if job is None:
                ctx.eprint(f"Job <{text}> is not found")
            else:
                wanted.append(job)
        jobs = wanted
    elif "-a" not in opts:
        jobs = [j for j in jobs if job_status(ctx, j) in ("queued", "running")]
        if not jobs:
            ctx.eprint("No unfinished job found")
            return
    if not jobs:
        raise Fail("", 255)
    letters = {"queued": "PEND", "running": "RUN", "done": "DONE", "failed": "EXIT", "cancelled": "EXIT"}
    if "-noheader" not in opts:
        ctx.print("JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME")
    for j in jobs:
        st = letters[job_status(ctx, j)]
        when = ts(j["submitted"], "%b %e %H:%M")
        exech = "" if st == "PEND" else ctx.server
        base = re.sub(r"\[.*", "", j["name"])
        for t in j["tasks"]:
            name = f"{base}[{t['index']}]" if j["array"] else j["name"]
            ctx.print(f"{j['id']:<7} {j['user'][:7]:<7} {st:<5} {j['queue'][:10]:<10} {ctx.server[:11]:<11} "
                      f"{exech[:11]:<11} {name:<10} {when}")


# -- HTCondor -------------------------------------------------------------------------------------
def condor_args(value: str) -> list[str]:
    """HTCondor 'arguments': the new syntax when double-quoted, else split on whitespace."""
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1].replace('""', '\0')
        args, cur, have, i = [], [], False, 0
        while i < len(v):
            c = v[i]
            if c == "'":
                have = True
                i += 1
                while i < len(v):
                    if v[i] == "'" and i + 1 < len(v) and v[i + 1] == "'":
                        cur.append("'")
                        i += 2
                    elif v[i] == "'":
                        break
                    else:
                        cur.append(v[i])
                        i += 1
                i += 1
            elif c.isspace():
                if cur or have:
                    args.append("".join(cur))
                cur, have = [], False
                i += 1
            else:
                cur.append(c)
                i += 1
        if cur or have:
            args.append("".join(cur))
        return [a.replace("\0", '"') for a in args]
    return [a.replace('\\"', '"') for a in v.split()]


def condor_environment(value: str) -> dict[str, str]:
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        items = condor_args(v)
    else:
        items = [x for x in v.split(";") if x]
    env = {}
    for item in items:
        if "=" in item:
            k, val = item.split("=", 1)
            env[k.strip()] = val
    return env


def condor_submit(ctx: Ctx) -> None:
    opts, positional = parse_opts(ctx.argv, {"-verbose", "-terse", "-dry-run", "-disable", "-debug"})
    text, given = read_script(ctx, positional)
    ctx.record["script"] = text
    ctx.record["script_path"] = given
    reject_if_asked(ctx)
    attrs: dict[str, str] = {}
    procs: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(?i)queue(?:\s+(\d+))?", line)
        if m:
            procs.extend(dict(attrs) for _ in range(int(m.group(1) or 1)))
            continue
        if line.lower().startswith("queue"):
            raise Fail(f"ERROR: fake condor_submit supports only 'queue [N]', not: {line}", 1)
        if "=" not in line:
            raise Fail(f"ERROR on Line {text.splitlines().index(raw) + 1} of submit file: {line}", 1)
        k, v = line.split("=", 1)
        attrs[k.strip().lower()] = v.strip()
    if not procs:
        raise Fail("ERROR: no 'queue' statement in submit file; no jobs queued", 1)
    job_id = ctx.new_id()
    job = {"id": job_id, "system": "htcondor", "name": "", "queue": "", "submitted": time.time(),
           "array": str(len(procs)) if len(procs) > 1 else None, "full_id": str(job_id), "tasks": [],
           "held": held(), "user": _user()}
    for proc_id, a in enumerate(procs):
        def macros(s: str) -> str:
            for name, val in (("Cluster", job_id), ("ClusterId", job_id), ("Process", proc_id),
                              ("ProcId", proc_id)):
                s = re.sub(rf"\$\({name}\)", str(val), s, flags=re.I)
            return s

        exe = a.get("executable")
        if not exe:
            raise Fail("ERROR: No 'executable' parameter was provided", 1)
        exe = macros(exe)
        found = exe if "/" in exe else shutil.which(exe)
        if not found or not os.access(found, os.X_OK):
            raise Fail(f"ERROR: Executable file {exe} does not exist", 1)
        found = os.path.abspath(found)
        args = condor_args(macros(a.get("arguments", a.get("args", ""))))
        cwd = macros(a.get("initialdir", os.getcwd()))
        stdout = macros(a.get("output", "")) or str(ctx.dir / f"condor.{job_id}.{proc_id}.out")
        stderr = macros(a.get("error", "")) or None
        if stdout == "/dev/null" and stderr is None:
            stderr = "/dev/null"
        env = dict(os.environ)
        env.update(condor_environment(macros(a.get("environment", ""))))
        env.update(FAKE_BATCH_JOB_ID=str(job_id), FAKE_BATCH_TASK_INDEX=str(proc_id),
                   _CONDOR_JOB_IWD=cwd, CONDOR_CLUSTER=str(job_id), CONDOR_PROCESS=str(proc_id))
        job["name"] = job["name"] or os.path.basename(found)
        argv = [found, *args]
        if not job["held"]:
            job["tasks"].append(start_task(ctx, job, proc_id, argv, env, stdout, stderr, cwd))
        else:
            job["tasks"].append({"index": proc_id, "pid": 0, "start": "", "argv": argv,
                                 "stdout": stdout, "stderr": stderr or stdout})
        if a.get("log"):
            with open(macros(a["log"]), "a") as f:
                f.write(f"000 ({job_id:03d}.{proc_id:03d}.000) {ts(time.time(), '%m/%d %H:%M:%S')} "
                        "Job submitted from host: <127.0.0.1>\n...\n")
    ctx.save(job)
    ctx.record["job_id"] = str(job_id)
    ctx.record["procs"] = [t["argv"] for t in job["tasks"]]
    if "-terse" in opts:
        ctx.print(f"{job_id}.0 - {job_id}.{len(procs) - 1}")
    else:
        ctx.print("Submitting job(s)" + "." * len(procs))
        ctx.print(f"{len(procs)} job(s) submitted to cluster {job_id}.")


def condor_rm(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    _, ids = parse_opts(ctx.argv, {"-all", "-forcex"})
    if not ids:
        raise Fail("condor_rm: no job id given", 1)
    status = 0
    for text in ids:
        job = find_job(ctx, text)
        if job is None or job_status(ctx, job) in ("done", "failed", "cancelled"):
            ctx.eprint(f"Couldn't find/remove all jobs in cluster {text}")
            status = 1
            continue
        kill_job(ctx, job)
        ctx.print(f"All jobs in cluster {job['id']} have been marked for removal")
    if status:
        raise Fail("", status)


def condor_q(ctx: Ctx) -> None:
    reject_if_asked(ctx)
    # `condor_q [ids] -af attr...`: autoformat takes every following word as an attribute.
    argv, autoformat = list(ctx.argv), None
    for flag in ("-af", "-autoformat"):
        if flag in argv:
            k = argv.index(flag)
            argv, autoformat = argv[:k], argv[k + 1:]
    ids = [w for w in argv if not w.startswith("-")]
    opts, _ = parse_opts([w for w in argv if w.startswith("-")],
                         {"-nobatch", "-allusers", "-global", "-long", "-totals"})
    jobs = ctx.all_jobs(ctx.system)
    if ids:
        keep = {re.match(r"\d+", i).group(0) for i in ids if re.match(r"\d+", i)}
        jobs = [j for j in jobs if str(j["id"]) in keep]
    jobs = [j for j in jobs if job_status(ctx, j) in ("queued", "running")]
    if autoformat is not None:
        # JobStatus: 1 idle, 2 running (finished jobs leave condor_q, as in HTCondor)
        for j in jobs:
            queued = job_status(ctx, j) == "queued"
            for t in j["tasks"]:
                if not queued and not task_alive(t):
                    continue
                values = {"JobStatus": "1" if queued else "2", "ClusterId": str(j["id"]),
                          "ProcId": str(t["index"])}
                ctx.print(" ".join(values.get(a, "undefined") for a in autoformat))
        return
    ctx.print("")
    ctx.print(f"-- Schedd: {ctx.server} : <127.0.0.1:9618?... @ {ts(time.time(), '%m/%d/%y %H:%M:%S')}")
    ctx.print(" ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD")
    n = {"I": 0, "R": 0}
    for j in jobs:
        st = "I" if job_status(ctx, j) == "queued" else "R"
        for t in j["tasks"]:
            if st == "R" and not task_alive(t):
                continue
            n[st] += 1
            run = int(time.time() - j["submitted"]) if st == "R" else 0
            cmd = " ".join([os.path.basename(t["argv"][0])] + t["argv"][1:])
            ctx.print(f"{j['id']}.{t['index']:<4} {j['user'][:14]:<14} {ts(j['submitted'], '%m/%d %H:%M'):>11} "
                      f"{run // 86400}+{run % 86400 // 3600:02d}:{run % 3600 // 60:02d}:{run % 60:02d} "
                      f"{st}  0    0.0 {cmd[:40]}")
    ctx.print("")
    total = n["I"] + n["R"]
    ctx.print(f"Total for query: {total} jobs; 0 completed, 0 removed, {n['I']} idle, {n['R']} running, "
              "0 held, 0 suspended")


COMMANDS = {"qsub": qsub, "qdel": qdel, "qsig": qsig, "qstat": qstat,
            "bsub": bsub, "bkill": bkill, "bjobs": bjobs,
            "condor_submit": condor_submit, "condor_rm": condor_rm, "condor_q": condor_q}


def main(cmd: str) -> None:
    try:
        ctx = Ctx(cmd, sys.argv[1:])
    except Fail as e:
        print(e.message, file=sys.stderr)
        sys.exit(e.status)
    try:
        COMMANDS[cmd](ctx)
        status = 0
    except Fail as e:
        if e.message:
            ctx.eprint(e.message)
        status = e.status
    except Exception:  # a bug in the fake: still recorded, so the test sees it
        import traceback
        ctx.eprint(f"{cmd} (fake): internal error\n{traceback.format_exc()}")
        ctx.record["internal_error"] = True
        status = 3
    sys.exit(ctx.finish(status))
