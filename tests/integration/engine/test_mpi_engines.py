"""`mpiexec -n 4 ipengine --mpi` (our engine) against our controller and Debian's Python one.

As with Python's `ipengine --mpi`: every rank initialises MPI in its own process, registers with
its MPI rank as engine id, and runs IPEngine.init_mpi (binding MPI, mpi_rank, mpi_size) in the
user namespace before any other startup code. Driven by the unmodified Python client; the
cluster is torn down at the end of each module run and nothing of it may be left.

    IPP_BIN_DIR=build/bin /usr/bin/python3 -m pytest tests/integration/engine/test_mpi_engines.py

Needs Open MPI's mpiexec (openmpi-bin) and mpi4py (python3-mpi4py); skipped without them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ipp_fixtures import ACTIVE_CLUSTERS  # noqa: E402
from ipp_testcluster import (TAG_VAR, Impl, TestCluster, cpp_binary,  # noqa: E402
                             cpp_binary_available, scaled)

import ipyparallel as ipp  # noqa: E402

I = ipp.interactive  # functions sent to engines look names up in the engines' namespace

N = 4
REPO = HERE.parents[2]
if not os.environ.get("IPP_BIN_DIR") and not cpp_binary_available("ipengine"):
    if (REPO / "build" / "bin" / "ipengine").exists():
        os.environ["IPP_BIN_DIR"] = str(REPO / "build" / "bin")

pytestmark = [
    pytest.mark.skipif(shutil.which("mpiexec") is None, reason="mpiexec not found (openmpi-bin)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None,
                       reason="mpi4py not installed (python3-mpi4py)"),
    pytest.mark.skipif(not cpp_binary_available("ipengine"),
                       reason=f"C++ ipengine not built ({cpp_binary('ipengine')})"),
]

# Open MPI refuses to run as root without these; mpiexec hands its environment to the ranks
OMPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def mpiexec_argv(cluster: TestCluster) -> list[str]:
    return [shutil.which("mpiexec"), "-n", str(N), "--oversubscribe",
            str(cpp_binary("ipengine")), "--mpi", f"--profile-dir={cluster.profile_dir}",
            # startup code after init_mpi sees its names
            "-c", "startup_rank = mpi_rank * 10"]


@pytest.fixture(scope="module", params=["cpp", "python"], ids=lambda c: f"controller={c}")
def mpi_cluster(request):
    if request.param == "cpp" and not cpp_binary_available("ipcontroller"):
        pytest.skip(f"C++ ipcontroller not built ({cpp_binary('ipcontroller')})")
    cluster = TestCluster(Impl(request.param, "cpp"), name=f"mpi-{request.param}", ping_ms=500)
    cluster.env.update(OMPI_ENV)
    ACTIVE_CLUSTERS.append(cluster)
    try:
        try:
            cluster.start_controller()
            # the single launched "engine" process is mpiexec; the ranks are its children
            cluster.engines.append(cluster._spawn("mpiexec", "cpp", mpiexec_argv(cluster)))
            cluster.wait_for_engines(cluster.connect(), N, timeout=90)
        except Exception as e:
            pytest.fail(f"MPI cluster failed to start: {e!r}\n{cluster.logs()}", pytrace=False)
        yield cluster
    finally:
        ACTIVE_CLUSTERS.remove(cluster)
        _notes, problems = cluster.stop()  # a no-op after test_shutdown_leaves_nothing
        logs = cluster.logs() if problems else ""
        cluster.remove_files()
        if problems:
            pytest.fail(f"MPI cluster did not stop cleanly: {problems}\n{logs}", pytrace=False)


@pytest.fixture(scope="module")
def rc(mpi_cluster):
    return mpi_cluster.clients[0]


def test_engine_ids_are_the_mpi_ranks(mpi_cluster, rc):
    assert sorted(rc.ids) == list(range(N))
    world = rc[:].apply_sync(I(lambda: (__import__("mpi4py").MPI.COMM_WORLD.Get_rank(),
                                        __import__("mpi4py").MPI.COMM_WORLD.Get_size())))
    assert world == [(eid, N) for eid in rc.ids]
    # each rank is its own ipengine process, a child of the one mpiexec
    pids = rc[:].apply_sync(I(lambda: __import__("os").getpid()))
    assert len(set(pids)) == N
    (mpiexec,) = mpi_cluster.engines
    for pid in pids:
        proc = psutil.Process(pid)
        assert Path(proc.exe()).name == "ipengine"
        assert mpiexec.pid in {p.pid for p in proc.parents()}


def test_init_mpi_names_in_user_namespace(rc):
    dv = rc[:]
    assert dv.pull(("mpi_rank", "mpi_size"), block=True) == [[eid, N] for eid in rc.ids]
    assert dv.pull("startup_rank", block=True) == [10 * eid for eid in rc.ids]
    assert dv.apply_sync(I(lambda: MPI.COMM_WORLD.Get_rank())) == rc.ids  # noqa: F821


def test_allreduce_through_apply(rc):
    def allreduce():
        from mpi4py import MPI

        return MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.Get_rank() + 1)

    assert rc[:].apply_sync(I(allreduce)) == [10] * N


def test_allreduce_through_execute(rc):
    # the %px pattern: code runs on every engine at once, the collective completes across them
    dv = rc[:]
    dv.execute("from mpi4py import MPI; r = MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.Get_rank())",
               block=True)
    assert dv.pull("r", block=True) == [6] * N


def test_shutdown_leaves_nothing(mpi_cluster, rc):
    (mpiexec,) = mpi_cluster.engines
    ranks = rc[:].apply_sync(I(lambda: __import__("os").getpid()))
    watched = [psutil.Process(pid) for pid in [mpiexec.pid, *ranks]]
    notes, problems = mpi_cluster.stop()
    assert not problems, f"{problems}\n{mpi_cluster.logs()}"
    # rc.shutdown(hub=True) stopped the engines, so mpiexec ended on its own, and cleanly
    assert mpiexec.popen.returncode == 0, mpi_cluster.logs()
    gone, alive = psutil.wait_procs(watched, timeout=scaled(10))
    assert not alive, [p.pid for p in alive]
    left = [p for p in psutil.process_iter(["name", "environ"])
            if (p.info["environ"] or {}).get(TAG_VAR) == mpi_cluster.tag
            and p.info["name"] in ("mpiexec", "orterun", "ipengine")]
    assert left == []
