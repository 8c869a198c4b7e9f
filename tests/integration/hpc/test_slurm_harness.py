"""The private Slurm harness behaves like a real Slurm: jobs, steps, tasks, queue, cancel, errors."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import slurm_harness
from slurm_harness import LocalSlurm, SlurmHarnessError


def _wait(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_node_declares_eight_cpus(local_slurm):
    out = local_slurm.run(["sinfo", "-h", "-N", "-o", "%N %c %T %P"]).stdout.split()
    assert out == [local_slurm.node, "8", "idle", "debug*"]


def test_srun_in_batch_job_sees_job_id(local_slurm, slurm_env):
    out = local_slurm.jobs_dir / "env.out"
    cp = subprocess.run(["sbatch", "--parsable", "-o", str(out)], input="#!/bin/sh\nsrun env\n", env=slurm_env,
                        capture_output=True, text=True, timeout=30, cwd=local_slurm.jobs_dir)
    assert cp.returncode == 0, cp.stderr
    job = int(cp.stdout.strip())
    assert local_slurm.wait_job(job) == "COMPLETED"
    lines = out.read_text().splitlines()
    assert f"SLURM_JOB_ID={job}" in lines
    assert "SLURM_STEP_ID=0" in lines
    assert f"SLURM_CONF={local_slurm.conf}" in lines


def test_ntasks_four_gives_four_tasks(local_slurm):
    out = local_slurm.jobs_dir / "tasks.out"
    job = local_slurm.sbatch("--ntasks=4", "-o", str(out),
                             script="#!/bin/sh\nsrun sh -c 'echo task $SLURM_PROCID of $SLURM_NTASKS'\n")
    assert local_slurm.wait_job(job) == "COMPLETED"
    assert sorted(out.read_text().splitlines()) == [f"task {i} of 4" for i in range(4)]


def test_eight_tasks_fit_on_the_node(local_slurm):
    out = local_slurm.jobs_dir / "eight.out"
    job = local_slurm.sbatch("--ntasks=8", "-o", str(out), script="#!/bin/sh\nsrun hostname\n")
    assert local_slurm.wait_job(job) == "COMPLETED"
    assert len(out.read_text().splitlines()) == 8


def test_squeue_shows_running_job_then_nothing(local_slurm):
    flag = local_slurm.jobs_dir / "squeue.flag"
    job = local_slurm.sbatch("-J", "sleeper", "-o", "/dev/null",
                             "--wrap", f"touch {flag}; sleep 2")
    _wait(flag.exists, what="the job to start")
    out = local_slurm.run(["squeue", "-h", "-o", "%i %j %T"]).stdout.split()
    assert out == [str(job), "sleeper", "RUNNING"]
    assert local_slurm.wait_job(job) == "COMPLETED"
    _wait(lambda: local_slurm.squeue_ids() == [], what="squeue to be empty")


def test_scancel_stops_a_running_job(local_slurm):
    pidfile = local_slurm.jobs_dir / "cancel.pid"
    job = local_slurm.sbatch("-o", "/dev/null", "--wrap", f"sleep 300 & echo $! > {pidfile}; wait")
    _wait(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the job to start")
    pid = int(pidfile.read_text())
    assert local_slurm.job_state(job) == "RUNNING"
    local_slurm.run(["scancel", str(job)])
    assert local_slurm.wait_job(job) == "CANCELLED"

    def gone():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read() == b""  # a zombie nobody reaps is gone too
        except OSError:
            return True

    _wait(gone, what=f"job process {pid} to exit")


def test_invalid_partition_is_rejected(local_slurm):
    cp = local_slurm.run(["sbatch", "-p", "nosuchpartition", "--wrap", "true"], check=False)
    assert cp.returncode != 0
    assert "invalid partition" in cp.stderr.lower(), cp.stderr
    assert cp.stdout == ""


def test_clients_need_the_harness_env(local_slurm):
    # Without SLURM_CONF the clients look for /etc/slurm/slurm.conf, which the harness never writes.
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    if os.path.exists("/etc/slurm/slurm.conf"):
        pytest.skip("this host has a system slurm.conf")
    cp = subprocess.run(["sinfo"], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0


def test_stop_leaves_no_daemon_behind():
    reason = slurm_harness.available()
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm()
    cluster.start()
    root = cluster.root
    pids = {name: p.pid for name, p in cluster.procs.items()}
    assert set(pids) == {"munged", "slurmctld", "slurmd"}
    try:
        pidfile = cluster.jobs_dir / "stray.pid"
        cluster.sbatch("--ntasks=2", "-o", "/dev/null",
                       script=f"#!/bin/sh\necho $$ > {pidfile}\nsrun sleep 300\n")
        _wait(pidfile.exists, what="the long job to start")
        _wait(lambda: any(cmd.startswith("slurmstepd") for _, cmd in cluster.leftovers()),
              what="a slurmstepd of the harness")
    finally:
        cluster.stop()
    assert not root.exists()
    assert cluster.leftovers() == []
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert f.read() == b"", f"{name} ({pid}) still running"
        except OSError:
            pass
    # Nothing anywhere still refers to the removed directory.
    assert slurm_harness.tagged_processes("no-such-tag", root) == []


def test_daemon_failure_reports_its_log(tmp_path):
    reason = slurm_harness.available()
    if reason:
        pytest.skip(reason)

    class BrokenSlurm(LocalSlurm):
        def _write_conf(self):
            super()._write_conf()
            with open(self.conf, "a") as f:
                f.write("NoSuchSlurmOption=1\n")

    cluster = BrokenSlurm(start_timeout=20)
    with pytest.raises(SlurmHarnessError) as err:
        cluster.start()
    msg = str(err.value)
    assert "slurmctld" in msg
    assert "NoSuchSlurmOption" in msg
    assert cluster.root is None and cluster.leftovers() == []
