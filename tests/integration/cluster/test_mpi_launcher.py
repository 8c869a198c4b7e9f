"""ipcluster's MPI launchers with Open MPI: engines under mpiexec (ids are the MPI ranks), a
controller under mpiexec, the cluster file Python's tools read, and nothing left after stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import processes_under, wait_for

pytestmark = pytest.mark.skipif(shutil.which("mpiexec") is None,
                                reason="Open MPI (openmpi-bin) is not installed")

MPI_CONFIG = """
c.MPILauncher.mpi_args = ["--oversubscribe"]
"""

RANKS = """
import ipyparallel as ipp
rc = ipp.Client(profile="default", timeout=30)
rc.wait_for_engines({n}, timeout=90)
print(sorted(rc.ids))
v = rc[:]
def where():
    from mpi4py import MPI
    import os
    return (MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size(), os.getpid())
print(v.apply_sync(where))
v.execute("from mpi4py import MPI; total = MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.Get_rank() + 1)",
          block=True)
print(v["total"])
rc.close()
"""


@pytest.fixture
def mpi_env(env):
    # Open MPI refuses to run as root without these; mpiexec passes them on to the ranks.
    env.env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env.env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env.env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    env.write_config(extra=MPI_CONFIG)
    return env


def mpiexec_pids(env):
    return [p for p in processes_under(env.root)
            if b"mpiexec" in open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0]]


def test_mpi_engines_are_ranks_and_allreduce(mpi_env):
    env = mpi_env
    r = env.run("start", "--engines=mpi", "-n", "4", "--daemonize", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = env.python(RANKS.format(n=4), timeout=180)
    assert out.returncode == 0, out.stderr
    ids, ranks, totals = out.stdout.splitlines()
    assert ids == "[0, 1, 2, 3]"
    # engine i is MPI rank i in a world of 4, each its own process
    placed = eval(ranks)
    assert [(rank, size) for rank, size, _ in placed] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert len({pid for _, _, pid in placed}) == 4
    assert totals == "[10, 10, 10, 10]"

    data = json.loads((env.profile_dir() / "security" / "cluster-.json").read_text())
    assert data["engines"]["class"] == "mpi"
    (engset,) = data["engines"]["sets"].values()
    assert engset["n"] == 4 and engset["state"] == "running" and "engines" not in engset
    assert engset["pid"] in mpiexec_pids(env)
    assert "mpiexec -n 4 --oversubscribe" in " ".join(
        open(f"/proc/{engset['pid']}/cmdline").read().split("\0"))
    listed = env.run("list", check_rc=0).stdout.splitlines()[1].split()
    assert listed[-2:] == ["4", "MPI"]

    env.run("stop", check_rc=0, timeout=120)
    wait_for(lambda: not mpiexec_pids(env), timeout=30, what="mpiexec to exit")
    wait_for(lambda: not [p for p in processes_under(env.root)
                          if b"ipengine" in open(f"/proc/{p}/cmdline", "rb").read()],
             timeout=30, what="engines to exit")


def test_mpi_controller_and_python_stop_on_our_cluster_file(mpi_env):
    env = mpi_env
    r = env.run("start", "--controller=mpi", "--engines=mpi", "-n", "2", "--daemonize",
                timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = env.python(RANKS.format(n=2), timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "[0, 1]"
    data = json.loads((env.profile_dir() / "security" / "cluster-.json").read_text())
    assert data["controller"]["class"] == "mpi"
    assert data["controller"]["state"]["pid"] in mpiexec_pids(env)
    assert len(mpiexec_pids(env)) == 2

    # Our ipcluster dies; Python's `ipcluster stop` stops what our cluster file records.
    pid = int((env.profile_dir() / "pid" / "ipcluster.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    theirs = subprocess.run(["/usr/bin/ipcluster", "stop"], env=env.env, capture_output=True,
                            text=True, timeout=120)
    assert theirs.returncode == 0, theirs.stderr
    wait_for(lambda: not mpiexec_pids(env), timeout=60, what="Python's stop to end mpiexec")


def test_mpiexec_failure_is_reported(mpi_env):
    env = mpi_env
    env.write_config(extra=MPI_CONFIG + 'c.MPILauncher.mpi_args = ["--no-such-option"]\n')
    r = env.run("start", "--engines=mpi", "-n", "2", timeout=180)
    # As Python's ipcluster: engines that stop early bring the cluster down (exit status 0).
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "MPI engines (mpiexec pid" in r.stderr and "stopped: exited with status 1" in r.stderr
    assert "Engines shutdown early" in r.stderr
    assert 'unknown option "--no-such-option"' in r.stderr  # mpiexec's own words
    assert not mpiexec_pids(env)
