"""Fixtures for the batch-system tests: a real private Slurm, and recording fakes of the others.

``local_slurm`` (session scope) is a running :class:`slurm_harness.LocalSlurm`; use
``local_slurm.env`` (os.environ plus SLURM_CONF and the harness tag) for every process that
calls sbatch/srun/squeue/scancel, including an ipcluster under test (``slurm_env`` is a copy
a test may modify). Tests that need it are
skipped when not running as root or when slurm-wlm/munge are not installed.

``fake_batch`` (function scope) is a :class:`fake_batch.FakeBatch`: ``fake_batch.env`` puts the
recording fakes of qsub/qdel/qstat/qsig, bsub/bkill/bjobs and condor_submit/condor_rm/condor_q
first on PATH with a fresh FAKE_BATCH_DIR and FAKE_BATCH_LOG; the helper reads back the calls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import slurm_harness  # noqa: E402


@pytest.fixture(scope="session")
def local_slurm(request):
    reason = slurm_harness.available()
    if reason:
        pytest.skip(reason)
    cluster = slurm_harness.LocalSlurm(keep_files=request.config.getoption("--keep-cluster-files", False))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        left = cluster.leftovers()
        assert not left, f"processes of the Slurm harness survived stop(): {left}"


@pytest.fixture
def slurm_env(local_slurm):
    """A copy of local_slurm.env (os.environ + SLURM_CONF + the harness tag) a test may change."""
    return dict(local_slurm.env)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the harness's daemon logs to a failing test that used local_slurm."""
    outcome = yield
    rep = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("local_slurm")
    if rep.failed and cluster is not None:
        rep.sections.append(("slurm daemon logs", cluster.logs()))


@pytest.fixture
def fake_batch(tmp_path):
    """A fresh recording-fake batch system (fake_batch.FakeBatch); every task is killed after."""
    import fake_batch as fb_module

    fb = fb_module.FakeBatch(tmp_path / "fakebatch")
    try:
        yield fb
    finally:
        fb.kill_all()
