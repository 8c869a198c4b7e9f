"""ipcluster's Slurm launchers against a real single-node Slurm that the tests start themselves
(tests/integration/hpc/slurm_harness.py): engines and a controller inside Slurm jobs, a
load-balanced map, stop leaving the queue empty, a rejected submission, a cancelled job, engines
split over several jobs, and Python's `ipcluster stop` on our cluster file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adaptive_bursts import bursts_script, result
from conftest import ipcluster_bin, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hpc"))
import slurm_harness  # noqa: E402


@pytest.fixture(scope="module")
def slurm():
    reason = slurm_harness.available()
    if reason:
        pytest.fail(f"a local Slurm cannot run here: {reason}")
    cluster = slurm_harness.LocalSlurm()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        assert not cluster.leftovers()


@pytest.fixture
def senv(env, slurm):
    env.env.update({k: v for k, v in slurm.env.items() if k.startswith(("SLURM", "IPP_SLURM"))})
    yield env
    # Whatever a failed test left in the queue goes.
    subprocess.run(["scancel", "--user=root"], env=slurm.env, capture_output=True)
    wait_for(lambda: not queue(slurm), timeout=60, what="an empty queue after the test")


def queue(slurm) -> list[str]:
    r = slurm.run(["squeue", "-h", "-o", "%i %j %T"], check=False)
    return [l for l in r.stdout.splitlines() if l.strip()]


CLIENT = """
import ipyparallel as ipp, os, socket
rc = ipp.Client(profile="default", timeout=30)
rc.wait_for_engines({n}, timeout=120)
print(sorted(rc.ids))
print(sorted(set(rc[:].apply_sync(lambda: __import__("os").environ.get("SLURM_JOB_ID")))))
print(rc.load_balanced_view().map_sync(lambda x: x * x, range(300)) == [x * x for x in range(300)])
rc.close()
"""


def slurm_config(env, extra=""):
    # The engine command as the other ipcluster tests choose it (ours or Python's).
    env.write_config(extra=extra)


def cluster_file(env):
    return json.loads((env.profile_dir() / "security" / "cluster-.json").read_text())


def test_engines_in_a_slurm_job_then_stop_empties_the_queue(senv, slurm):
    slurm_config(senv)
    r = senv.run("start", "--engines=slurm", "-n", "4", "--daemonize", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = senv.python(CLIENT.format(n=4), timeout=240)
    assert out.returncode == 0, out.stderr
    ids, jobs, mapped = out.stdout.splitlines()
    assert ids == "[0, 1, 2, 3]"
    data = cluster_file(senv)
    assert data["engines"]["class"] == "slurm"
    (engset,) = data["engines"]["sets"].values()
    assert engset["n"] == 4 and engset["job_id"].isdigit()
    assert jobs == f"['{engset['job_id']}']"  # all four engines run inside that job
    assert mapped == "True"
    script = (senv.profile_dir() / "slurm_engine.sbatch").read_text()
    assert script.startswith("#!/bin/sh\n#SBATCH --ntasks=4\n#SBATCH --output=")
    assert [l.split()[0] for l in queue(slurm)] == [engset["job_id"]]
    log = next((senv.profile_dir() / "log").glob("ipcluster-*.log")).read_text()
    assert f"4/4 engines registered, job {engset['job_id']}" in log

    senv.run("stop", check_rc=0, timeout=120)
    wait_for(lambda: not queue(slurm), timeout=60, what="squeue to be empty after stop")


def test_controller_in_slurm_and_python_stop_on_our_cluster_file(senv, slurm):
    slurm_config(senv)
    r = senv.run("start", "--controller=slurm", "--engines=slurm", "-n", "2", "--daemonize",
                 timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = senv.python(CLIENT.format(n=2), timeout=240)
    assert out.returncode == 0, out.stderr
    data = cluster_file(senv)
    assert data["controller"]["class"] == "slurm"
    ctl_job = data["controller"]["state"]["job_id"]
    names = {l.split()[0]: l.split()[1] for l in queue(slurm)}
    assert names[ctl_job] == "ipcontroller-"
    assert len(names) == 2
    # Our ipcluster dies; Python's `ipcluster stop` deletes the jobs our cluster file records.
    pid = int((senv.profile_dir() / "pid" / "ipcluster.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    theirs = subprocess.run(["/usr/bin/ipcluster", "stop"], env=senv.env, capture_output=True,
                            text=True, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    assert f"'job_id': '{ctl_job}'" in theirs.stderr
    wait_for(lambda: not queue(slurm), timeout=60, what="Python's stop to empty the queue")


def test_rejected_submission_says_what_slurm_said(senv, slurm):
    slurm_config(senv, 'c.SlurmEngineSetLauncher.queue = "nosuchpartition"\n')
    r = senv.run("start", "--engines=slurm", "-n", "2", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Slurm rejected the engines job (sbatch " in r.stderr
    assert "invalid partition specified: nosuchpartition" in r.stderr
    assert not queue(slurm)


def test_job_cancelled_before_engines_register_is_reported(senv, slurm):
    # --hold keeps the job pending until it is cancelled.
    slurm_config(senv, 'c.SlurmEngineSetLauncher.submit_command = ["sbatch", "--hold"]\n')
    p = subprocess.Popen([ipcluster_bin(), "start", "--engines=slurm", "-n", "2"],
                         env=senv.env, stderr=subprocess.PIPE, text=True)
    job = wait_for(lambda: [l.split()[0] for l in queue(slurm)], timeout=60,
                   what="the engine job in the queue")[0]
    time.sleep(3)  # let ipcluster see the job pending (it checks every 2 s)
    slurm.run(["scancel", job])
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    assert f"Slurm job {job} (2 engines) is PENDING (JobHeldUser)" in err
    assert f"Slurm job {job} (2 engines) ended: CANCELLED" in err
    assert "before its engines registered" in err
    assert err.count("ended: CANCELLED") == 1


def test_engines_split_over_jobs(senv, slurm):
    slurm_config(senv, "c.SlurmEngineSetLauncher.engines_per_job = 2\n")
    r = senv.run("start", "--engines=slurm", "-n", "5", "--daemonize", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = senv.python(CLIENT.format(n=5), timeout=240)
    assert out.returncode == 0, out.stderr
    sets = cluster_file(senv)["engines"]["sets"]
    assert sorted(s["n"] for s in sets.values()) == [1, 2, 2]
    jobs = sorted(s["job_id"] for s in sets.values())
    assert out.stdout.splitlines()[1] == str(sorted(jobs))
    assert sorted(l.split()[0] for l in queue(slurm)) == jobs
    assert (senv.profile_dir() / "slurm_engine-3.sbatch").exists()
    senv.run("stop", check_rc=0, timeout=120)
    wait_for(lambda: not queue(slurm), timeout=60, what="all three jobs deleted")


def test_ended_engine_job_is_resubmitted_with_restarts_on(senv, slurm):
    """c.Cluster.engine_restart_limit with batch engines: when the engines' job ends (here
    cancelled, as a pre-emption would), a new job of the same script replaces it."""
    slurm_config(senv, "c.Cluster.engine_restart_limit = 2\n"
                       "c.Cluster.engine_restart_delay = 0.2\n")
    r = senv.run("start", "--engines=slurm", "-n", "2", "--daemonize", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = senv.python(CLIENT.format(n=2), timeout=240)
    assert out.returncode == 0, out.stderr
    (first,) = [s["job_id"] for s in cluster_file(senv)["engines"]["sets"].values()]
    slurm.run(["scancel", first])

    def new_job():
        jobs = [s.get("job_id") for s in cluster_file(senv)["engines"]["sets"].values()]
        return jobs[0] if jobs and jobs[0] not in (None, "", first) else None

    second = wait_for(new_job, timeout=120, what="a new engine job")
    log = lambda: next((senv.profile_dir() / "log").glob("ipcluster-*.log")).read_text()
    # squeue shows a cancelled job for a short while only: the launcher may see it CANCELLED
    # or already gone, and either way it must say so.
    assert re.search(rf"Slurm job {first} \(2 engines\) ended: (CANCELLED|no longer in the queue)",
                     log()), log()
    assert "Restarting 2 engines of set" in log() and "Started 2 replacement engines" in log()
    again = senv.python("""
import ipyparallel as ipp, os, time
rc = ipp.Client(profile="default", timeout=30)
deadline = time.monotonic() + 120
while sorted(rc.ids) != [2, 3] and time.monotonic() < deadline:
    time.sleep(0.2)
print(sorted(rc.ids))
print(sorted(set(rc[:].apply_sync(lambda: __import__("os").environ.get("SLURM_JOB_ID")))))
""", timeout=240)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["[2, 3]", f"['{second}']"], again.stdout
    senv.run("stop", check_rc=0, timeout=120)
    wait_for(lambda: not queue(slurm), timeout=60, what="squeue to be empty after stop")


def test_adaptive_engines_come_and_go_as_slurm_jobs(senv, slurm):
    """`--adapt` with Slurm engines: a job per engine. A burst submits jobs up to what the node
    runs (8 CPUs; --max=10, so two wait in the queue and are cancelled once no work waits);
    idle engines retire and their jobs end; a second burst submits jobs again. Every result is
    right and ended jobs leave the cluster file."""
    slurm_config(senv)
    r = senv.run("start", "--engines=slurm", "--adapt", "--min=1", "--max=10",
                 "--idle-timeout=3", "--daemonize", "--log-to-file", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    client_file = str(senv.profile_dir() / "security" / "ipcontroller-client.json")
    client = subprocess.Popen(["/usr/bin/python3", "-c", bursts_script(client_file)],
                              env=senv.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    samples = []  # (running jobs, pending jobs) while the bursts run
    deadline = time.monotonic() + 400
    while client.poll() is None and time.monotonic() < deadline:
        states = [l.split()[2] for l in queue(slurm)]
        samples.append((states.count("RUNNING"), states.count("PENDING")))
        time.sleep(0.3)
    if client.poll() is None:
        client.kill()
    out, err = client.communicate(timeout=30)
    log = "".join(p.read_text(errors="replace")
                  for p in (senv.profile_dir() / "log").glob("ipcluster-*.log"))
    assert client.returncode == 0, (err, log)
    res = result(out)
    print("adaptive Slurm bursts:", json.dumps(res), "most jobs running/pending:",
          max(s[0] for s in samples), max(s[1] for s in samples))
    for burst in ("first", "second"):
        assert res[burst]["ok"], res
        assert res[burst]["after_idle"] == 1, (res, log)
    assert res["first"]["peak"] == 8, (res, log)  # the node's 8 CPUs, below --max=10
    # the second, shorter burst grows again, as far as Slurm starts the jobs in time
    assert res["second"]["peak"] >= 3, (res, log)
    assert max(s[0] for s in samples) == 8, samples
    assert max(s[1] for s in samples) >= 1, samples  # jobs waited for a free CPU ...
    assert "still queued and no work waits" in log, log  # ... and were cancelled
    assert re.search(r"Slurm job \d+ \(1 engines\) ended: (COMPLETED|no longer in the queue)", log)
    assert "Adaptive: grow 1 -> 10 engines" in log, log
    assert "Adaptive: shrink" in log and "-> 1 engines" in log, log
    assert "ERROR" not in log and "Restarting" not in log, log

    # idle: one engine, one job, one set in the cluster file
    wait_for(lambda: len(queue(slurm)) == 1, timeout=60, what="one job left in the queue")
    left = queue(slurm)[0].split()[0]
    # ipcluster sees jobs end at its next status check (every 2 s)
    wait_for(lambda: [s["job_id"] for s in cluster_file(senv)["engines"]["sets"].values()]
             == [left], timeout=30, what="only the job left in the cluster file")
    senv.run("stop", check_rc=0, timeout=120)
    wait_for(lambda: not queue(slurm), timeout=60, what="squeue to be empty after stop")
