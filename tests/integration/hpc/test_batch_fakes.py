"""The recording batch fakes: what they record, the formats they print, the jobs they run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

PYTHON = "/usr/bin/python3"
# Python launchers to check the fakes with: the vendored 9.1.0 package, and Debian's 7.1.
VENDOR = {"9.1": Path(__file__).resolve().parents[2] / "vendor" / "ipyparallel-9.1.0", "7.1": None}


def _wait(pred, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] in "ZX"
    except OSError:
        return True


# -- PBS ------------------------------------------------------------------------------------------
def test_pbs_array_job_records_runs_and_reports(fake_batch, tmp_path):
    out = tmp_path / "pbs.out"
    script = tmp_path / "pbs_engines"
    script.write_text(f"#!/bin/sh\n#PBS -V\n#PBS -N ipengine\n#PBS -t 1-3\n#PBS -j oe\n#PBS -o {out}\n"
                      "echo task $PBS_ARRAYID $PBS_JOBID $IPP_CLUSTER_ID\nexec sleep 60\n")
    cp = fake_batch.run(["qsub", str(script)], env={"IPP_CLUSTER_ID": "c1", "IPP_PROFILE_DIR": "/p"})
    assert cp.returncode == 0, cp.stderr
    assert re.fullmatch(r"(\d+)\[\]\.fakehost\n", cp.stdout)
    job = int(cp.stdout.split("[")[0])
    _wait(lambda: len(_lines(out)) == 3, what="three tasks")
    assert sorted(_lines(out)) == [f"task {i} {job}[{i}].fakehost c1" for i in (1, 2, 3)]

    [call] = fake_batch.calls("qsub")
    assert call["argv"] == ["qsub", str(script)]
    assert call["script"] == script.read_text()
    assert call["env"] == {"IPP_CLUSTER_ID": "c1", "IPP_PROFILE_DIR": "/p"}
    assert call["job_id"] == str(job) and call["exit"] == 0 and call["stdout"] == cp.stdout

    st = fake_batch.run(["qstat"]).stdout.splitlines()
    assert st[0].split() == ["Job", "ID", "Name", "User", "Time", "Use", "S", "Queue"]
    assert st[2].split()[0] == f"{job}[].fakehost" and st[2].split()[-2:] == ["R", "batch"]

    pids = fake_batch.alive_pids(job)
    assert len(pids) == 3
    cp = fake_batch.run(["qdel", str(job)])
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")
    assert fake_batch.status(job) == "cancelled"
    assert all(_gone(p) for p in pids)
    assert fake_batch.run(["qstat", str(job)]).stdout.splitlines()[2].split()[-2] == "C"
    # A finished job is no longer known to qdel, as in Torque.
    cp = fake_batch.run(["qdel", f"{job}.fakehost"])
    assert cp.returncode == 153 and cp.stderr == f"qdel: Unknown Job Id {job}.fakehost\n"


def test_pbs_plain_job_id_format_queue_and_stdin(fake_batch):
    cp = fake_batch.run(["qsub", "-q", "short", "-N", "one"], input="#!/bin/sh\necho hi\n")
    assert cp.returncode == 0, cp.stderr
    assert re.fullmatch(r"\d+\.fakehost\n", cp.stdout)
    job = int(cp.stdout.split(".")[0])
    assert fake_batch.wait(job) == "done"
    assert fake_batch.output(job) == "hi\n"
    assert Path(fake_batch.job(job)["tasks"][0]["stdout"]).name == f"one.o{job}"
    call = fake_batch.calls("qsub")[0]
    assert call["stdin"] is True and call["options"]["-q"] == ["short"]
    assert fake_batch.run(["qstat"]).stdout.splitlines()[2].split()[-2:] == ["C", "short"]


def test_qsig_delivers_the_signal_to_every_task(fake_batch, tmp_path):
    out = tmp_path / "sig.out"
    script = ("#!/bin/sh\n#PBS -t 1-2\n"
              f"trap 'echo got-usr1 $PBS_ARRAYID >> {out}; exit 0' USR1\n"
              f"echo ready >> {out}\nwhile :; do sleep 0.1; done\n")
    job = int(re.match(r"\d+", fake_batch.run(["qsub"], input=script).stdout).group(0))
    _wait(lambda: _lines(out).count("ready") == 2, what="tasks ready")
    cp = fake_batch.run(["qsig", "-s", "SIGUSR1", str(job)])
    assert cp.returncode == 0, cp.stderr
    _wait(lambda: sorted(x for x in _lines(out) if x != "ready") == ["got-usr1 1", "got-usr1 2"],
          what="both tasks signalled")
    assert fake_batch.wait(job) == "done"
    assert fake_batch.calls("qsig")[0]["signal"] == 10


# -- SGE ------------------------------------------------------------------------------------------
def test_sge_formats_and_task_ids(fake_batch, tmp_path):
    env = {"FAKE_BATCH_SYSTEM": "sge"}
    out = tmp_path / "sge.out"
    # ipyparallel's SGE templates have no #! line: the fake runs them with /bin/sh (or #$ -S).
    script = f"#$ -V\n#$ -S /bin/sh\n#$ -N ipengine\n#$ -t 1-4\n#$ -o {out}\necho task $SGE_TASK_ID $JOB_ID\nexec sleep 60\n"
    cp = fake_batch.run(["qsub"], input=script, env=env)
    m = re.fullmatch(r'Your job-array (\d+)\.1-4:1 \("ipengine"\) has been submitted\n', cp.stdout)
    assert m, cp.stdout
    job = int(m.group(1))
    _wait(lambda: len(_lines(out)) == 4, what="four tasks")
    assert sorted(_lines(out)) == [f"task {i} {job}" for i in (1, 2, 3, 4)]
    rows = fake_batch.run(["qstat"], env=env).stdout.splitlines()
    assert rows[0].startswith("job-ID  prior   name       user         state submit/start at")
    assert [r.split()[0] for r in rows[2:]] == [str(job)] * 4
    assert [r.split()[4] for r in rows[2:]] == ["r"] * 4
    assert [r.split()[-1] for r in rows[2:]] == ["1", "2", "3", "4"]
    cp = fake_batch.run(["qdel", str(job)], env=env)
    assert cp.returncode == 0 and cp.stdout.endswith(f"has registered the job {job} for deletion\n")
    assert fake_batch.run(["qstat"], env=env).stdout == ""  # SGE forgets finished jobs
    cp = fake_batch.run(["qdel", str(job)], env=env)
    assert cp.returncode == 1 and cp.stderr == f'denied: job "{job}" does not exist\n'

    cp = fake_batch.run(["qsub", "-N", "ipcontroller"], input="#$ -V\necho one $SGE_TASK_ID\n", env=env)
    m = re.fullmatch(r'Your job (\d+) \("ipcontroller"\) has been submitted\n', cp.stdout)
    assert m, cp.stdout
    assert fake_batch.wait(int(m.group(1))) == "done"
    assert fake_batch.output(int(m.group(1))) == "one undefined\n"
    assert fake_batch.calls("qsub")[-1]["system"] == "sge"


# -- LSF ------------------------------------------------------------------------------------------
def test_lsf_script_on_stdin_array_and_formats(fake_batch, tmp_path):
    out = tmp_path / "lsf.%I.out"
    script_file = tmp_path / "lsf_engines"
    # Indented directives, as ipyparallel 9.1's LSF templates write them.
    script_file.write_text(f"#!/bin/sh\n#BSUB -J ipengine[1-2]\n    #BSUB -env all\n    #BSUB -o {out}\n"
                           "    echo task $LSB_JOBINDEX $LSB_JOBID\n    exec sleep 60\n")
    # Exactly how Python's LSFLauncher submits: the shell string bsub<"file".
    cp = subprocess.run(f'bsub<"{script_file}"', shell=True, env=fake_batch.env, capture_output=True, text=True)
    m = re.fullmatch(r"Job <(\d+)> is submitted to default queue <normal>\.\n", cp.stdout)
    assert m, (cp.stdout, cp.stderr)
    job = int(m.group(1))
    outs = [tmp_path / f"lsf.{i}.out" for i in (1, 2)]
    _wait(lambda: all(_lines(p) for p in outs), what="two tasks")
    assert [_lines(p) for p in outs] == [[f"task 1 {job}"], [f"task 2 {job}"]]
    call = fake_batch.calls("bsub")[0]
    assert call["argv"] == ["bsub"] and call["stdin"] is True and call["script"] == script_file.read_text()

    rows = fake_batch.run(["bjobs"]).stdout.splitlines()
    assert rows[0].split()[:4] == ["JOBID", "USER", "STAT", "QUEUE"]
    user = rows[1].split()[1]
    assert [r.split()[:4] for r in rows[1:]] == [[str(job), user, "RUN", "normal"]] * 2
    assert [r.split()[6] for r in rows[1:]] == ["ipengine[1]", "ipengine[2]"]
    cp = fake_batch.run(["bkill", str(job)])
    assert cp.returncode == 0 and cp.stdout == f"Job <{job}> is being terminated\n"
    assert fake_batch.status(job) == "cancelled"
    cp = fake_batch.run(["bjobs"])
    assert cp.stdout == "" and cp.stderr == "No unfinished job found\n"
    assert fake_batch.run(["bjobs", str(job)]).stdout.splitlines()[1].split()[2] == "EXIT"
    cp = fake_batch.run(["bkill", str(job)])
    assert cp.returncode == 255 and cp.stderr == f"Job <{job}>: Job has already finished\n"

    cp = fake_batch.run(["bsub", "-q", "short"], input="#!/bin/sh\necho done\n")
    m = re.fullmatch(r"Job <(\d+)> is submitted to queue <short>\.\n", cp.stdout)
    assert m, cp.stdout
    assert fake_batch.wait(int(m.group(1))) == "done"
    assert fake_batch.run(["bjobs", m.group(1)]).stdout.splitlines()[1].split()[2] == "DONE"


def test_bkill_signal(fake_batch, tmp_path):
    out = tmp_path / "sig.out"
    script = f"#!/bin/sh\ntrap 'echo got-int >> {out}; exit 0' INT\necho ready >> {out}\nwhile :; do sleep 0.1; done\n"
    job = int(re.search(r"<(\d+)>", fake_batch.run(["bsub"], input=script).stdout).group(1))
    _wait(lambda: "ready" in _lines(out), what="task ready")
    cp = fake_batch.run(["bkill", "-s", "2", str(job)])
    assert cp.stdout == f"Job <{job}> is being signaled\n"
    assert fake_batch.wait(job) == "done"
    assert _lines(out) == ["ready", "got-int"]


# -- HTCondor -------------------------------------------------------------------------------------
def _write_exe(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_condor_queue_n_path_lookup_and_quoted_arguments(fake_batch, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _write_exe(bindir / "ipengine", 'for a in "$@"; do echo "[$a]"; done\nexec sleep 60\n')
    sub = tmp_path / "htcondor_engines"
    sub.write_text(textwrap.dedent(f"""
        universe        = vanilla
        executable      = ipengine
        # by default we expect a shared file system
        transfer_executable = False
        arguments       = "--profile-dir '/a b' 'it''s' $(Process)"
        output          = {tmp_path}/c.$(Cluster).$(Process).out
        queue 3"""))
    env = {"PATH": f"{bindir}:{fake_batch.env['PATH']}"}
    cp = fake_batch.run(["condor_submit", str(sub)], env=env)
    m = re.fullmatch(r"Submitting job\(s\)\.\.\.\n3 job\(s\) submitted to cluster (\d+)\.\n", cp.stdout)
    assert m, (cp.stdout, cp.stderr)
    job = int(m.group(1))
    # ipyparallel's job_id_regexp for HTCondor, applied the way it does (search, group 1).
    assert re.search(r"(\d+)\.$", cp.stdout).group(1) == str(job)
    outs = [tmp_path / f"c.{job}.{i}.out" for i in range(3)]
    _wait(lambda: all(len(_lines(p)) == 4 for p in outs), what="three procs")
    for i, p in enumerate(outs):
        assert _lines(p) == ["[--profile-dir]", "[/a b]", "[it's]", f"[{i}]"]
    call = fake_batch.calls("condor_submit")[0]
    assert call["procs"][0] == [str(bindir / "ipengine"), "--profile-dir", "/a b", "it's", "0"]

    rows = fake_batch.run(["condor_q"]).stdout.splitlines()
    assert rows[2].split()[:2] == ["ID", "OWNER"]
    ids = [r.split()[0] for r in rows if re.match(r"\d+\.\d+ ", r)]
    assert ids == [f"{job}.{i}" for i in range(3)]
    assert rows[-1] == "Total for query: 3 jobs; 0 completed, 0 removed, 0 idle, 3 running, 0 held, 0 suspended"
    cp = fake_batch.run(["condor_rm", str(job)])
    assert cp.stdout == f"All jobs in cluster {job} have been marked for removal\n"
    assert fake_batch.status(job) == "cancelled"
    assert fake_batch.run(["condor_q"]).stdout.splitlines()[-1].startswith("Total for query: 0 jobs;")
    cp = fake_batch.run(["condor_rm", str(job)])
    assert cp.returncode == 1 and cp.stderr == f"Couldn't find/remove all jobs in cluster {job}\n"


def test_condor_unquoted_arguments_and_missing_executable(fake_batch, tmp_path):
    sub = "executable = echo\narguments = --ip=* --log-level=20\nqueue\n"
    cp = fake_batch.run(["condor_submit"], input=sub)
    assert cp.stdout.endswith("1 job(s) submitted to cluster %s.\n" % cp.stdout.split()[-1].rstrip("."))
    job = int(cp.stdout.split()[-1].rstrip("."))
    assert fake_batch.wait(job) == "done"
    assert fake_batch.output(job) == "--ip=* --log-level=20\n"
    cp = fake_batch.run(["condor_submit"], input="executable = no-such-program-xyz\nqueue 2\n")
    assert cp.returncode == 1 and cp.stderr == "ERROR: Executable file no-such-program-xyz does not exist\n"
    assert fake_batch.calls("condor_submit")[-1]["exit"] == 1


# -- common behaviour -----------------------------------------------------------------------------
@pytest.mark.parametrize("cmd,system", [("qsub", "pbs"), ("qsub", "sge"), ("bsub", "lsf"),
                                        ("condor_submit", "htcondor")])
def test_reject(fake_batch, cmd, system):
    msg = "qsub: submit error: queue is disabled (fake)"
    cp = fake_batch.run([cmd], input="executable = /bin/true\nqueue\n" if system == "htcondor" else "echo x\n",
                        env={"FAKE_BATCH_REJECT": msg, "FAKE_BATCH_SYSTEM": "sge" if system == "sge" else "pbs"})
    assert (cp.returncode, cp.stdout, cp.stderr) == (1, "", msg + "\n")
    assert fake_batch.jobs() == {}
    [call] = fake_batch.calls(cmd)
    assert call["rejected"] == msg and call["exit"] == 1 and call["system"] == system


def test_reject_one_command(fake_batch):
    job = int(fake_batch.run(["qsub"], input="sleep 60\n").stdout.split(".")[0])
    cp = fake_batch.run(["qdel", str(job)], env={"FAKE_BATCH_REJECT_QDEL": "qdel: Server could not connect"})
    assert (cp.returncode, cp.stderr) == (1, "qdel: Server could not connect\n")
    assert fake_batch.status(job) == "running"
    assert fake_batch.run(["qdel", str(job)]).returncode == 0


def test_hold_queues_without_running(fake_batch, tmp_path):
    marker = tmp_path / "ran"
    cp = fake_batch.run(["qsub"], input=f"touch {marker}\n", env={"FAKE_BATCH_HOLD": "1"})
    job = int(cp.stdout.split(".")[0])
    assert fake_batch.status(job) == "queued"
    assert fake_batch.run(["qstat"]).stdout.splitlines()[2].split()[-2] == "Q"
    assert fake_batch.run(["qdel", str(job)]).returncode == 0
    assert fake_batch.status(job) == "cancelled" and not marker.exists()


def test_systems_do_not_see_each_others_jobs(fake_batch):
    job = int(re.search(r"<(\d+)>", fake_batch.run(["bsub"], input="sleep 60\n").stdout).group(1))
    cp = fake_batch.run(["qdel", str(job)])
    assert cp.returncode == 153
    assert fake_batch.run(["qstat"]).stdout == ""
    assert fake_batch.status(job) == "running"


def test_missing_fake_batch_dir_is_an_error(fake_batch):
    env = dict(fake_batch.env)
    del env["FAKE_BATCH_DIR"]
    cp = subprocess.run(["qsub"], input="true\n", env=env, capture_output=True, text=True)
    assert cp.returncode == 2 and "FAKE_BATCH_DIR is not set" in cp.stderr


def test_job_ids_are_unique_under_concurrent_submits(fake_batch):
    procs = [subprocess.Popen(["qsub"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=fake_batch.env, cwd=fake_batch.root) for _ in range(8)]
    ids = [p.communicate("true\n")[0] for p in procs]
    assert len(set(ids)) == 8
    assert len(fake_batch.calls("qsub")) == 8


# -- Python's own launchers against the fakes -----------------------------------------------------
LAUNCH = r'''
import json, os, sys, time
spec = json.loads(sys.argv[1])
if spec["vendor"]:
    sys.path.insert(0, spec["vendor"])
from ipyparallel.cluster import launcher as L
cls = getattr(L, spec["cls"])
ln = cls(work_dir=spec["work_dir"], profile_dir=spec["profile_dir"], cluster_id="cid",
         engine_cmd=spec["engine_cmd"])
job_id = ln.start(spec["n"])
marker = spec["marker"]
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    if os.path.exists(marker) and len(open(marker).read().split()) >= spec["expect"]:
        break
    time.sleep(0.05)
out = ln.stop()
print(json.dumps({"job_id": job_id, "args": ln.args, "batch_file": ln.batch_file, "stop": out}))
'''


@pytest.mark.parametrize("version", ["9.1", "7.1"])
@pytest.mark.parametrize("system", ["pbs", "sge", "lsf", "htcondor"])
def test_python_launcher_round_trip(fake_batch, tmp_path, system, version):
    """ipyparallel's own EngineSetLauncher submits, parses the id and stops through the fakes."""
    n = 3
    # ipyparallel 9.1's LSF engine template puts its own "#BSUB -J ipengine-{cluster_id}" (indented)
    # after the inserted "#BSUB -J ipengine[1-3]"; the fake, like bsub's option parsing, lets the
    # later -J win, so the job is not an array and one engine starts. 7.1's template has no -J.
    expect = 1 if (system, version) == ("lsf", "9.1") else n
    marker = tmp_path / "engines.txt"
    profile = tmp_path / "profile"
    profile.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # HTCondor's template runs `ipengine` from PATH with the arguments; elsewhere engine_cmd runs.
    _write_exe(bindir / "ipengine", f"echo $$ >> {marker}\nexec sleep 60\n")
    spec = {"vendor": str(VENDOR[version]) if VENDOR[version] else None,
            "cls": {"pbs": "PBS", "sge": "SGE", "lsf": "LSF", "htcondor": "HTCondor"}[system]
            + "EngineSetLauncher",
            "work_dir": str(tmp_path), "profile_dir": str(profile), "n": n, "expect": expect,
            "marker": str(marker),
            "engine_cmd": [str(bindir / "ipengine")]}
    env = dict(fake_batch.env, PATH=f"{bindir}:{fake_batch.env['PATH']}", PYTHONDONTWRITEBYTECODE="1",
               FAKE_BATCH_SYSTEM="sge" if system == "sge" else "pbs")
    cp = subprocess.run([PYTHON, "-c", LAUNCH, json.dumps(spec)], env=env, capture_output=True,
                        text=True, timeout=90, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    res = json.loads(cp.stdout.strip().splitlines()[-1])
    job = int(res["job_id"])
    assert len(_lines(marker)) == expect
    assert fake_batch.status(job) == "cancelled"
    assert not fake_batch.alive_pids(job)
    submit = {"pbs": "qsub", "sge": "qsub", "lsf": "bsub", "htcondor": "condor_submit"}[system]
    [call] = fake_batch.calls(submit)
    assert call["script"] == Path(res["batch_file"]).read_text()
    if system == "lsf":
        assert call["argv"] == ["bsub"] and call["stdin"] is True
    else:
        assert call["argv"] == res["args"]
    if version == "9.1" and system != "lsf":  # 9.1's LSF launcher submits with os.environ only
        assert call["env"] == {"IPP_CLUSTER_ID": "cid", "IPP_PROFILE_DIR": str(profile)}
    delete = {"pbs": "qdel", "sge": "qdel", "lsf": "bkill", "htcondor": "condor_rm"}[system]
    assert [c["argv"] for c in fake_batch.calls(delete)] == [[delete, str(job)]]
