"""pytest fixtures for the controller/engine integration suite.

Implementation selection (per run):

  --controller=python|cpp        (env IPP_TEST_CONTROLLER, default python)
  --engine=python|cpp|mixed      (env IPP_TEST_ENGINE, default python; mixed = alternate python/cpp)
  --matrix                       (env IPP_TEST_MATRIX=1) run everything for every combination of
                                 controller {python,cpp} x engines {python,cpp,mixed}
  --ipp-bin-dir=DIR              (env IPP_BIN_DIR, default <repo>/build/bin) where the C++
                                 ipcontroller / ipengine live
  --keep-cluster-files           keep each cluster's temporary IPYTHONDIR and logs

Each test module gets its own cluster (controller + engines as real subprocesses in a temporary
IPYTHONDIR); modules that need several controller configurations parametrize their own fixture
with :func:`running_cluster`.
"""

from __future__ import annotations

import os
import signal

import pytest

from ipp_fixtures import ACTIVE_CLUSTERS, running_cluster
from ipp_testcluster import Impl, cpp_binary, scaled

CONTROLLERS = ("python", "cpp")
ENGINES = ("python", "cpp", "mixed")


def pytest_addoption(parser):
    group = parser.getgroup("ipp", "ipyparallel integration suite")
    group.addoption(
        "--controller",
        choices=CONTROLLERS,
        default=os.environ.get("IPP_TEST_CONTROLLER") or "python",
        help="controller implementation (env IPP_TEST_CONTROLLER)",
    )
    group.addoption(
        "--engine",
        choices=ENGINES,
        default=os.environ.get("IPP_TEST_ENGINE") or "python",
        help="engine implementation (env IPP_TEST_ENGINE)",
    )
    group.addoption(
        "--matrix",
        action="store_true",
        default=os.environ.get("IPP_TEST_MATRIX", "") not in ("", "0"),
        help="run over every controller x engine combination (env IPP_TEST_MATRIX=1)",
    )
    group.addoption(
        "--ipp-bin-dir",
        default=None,
        help="directory holding the C++ ipcontroller/ipengine (env IPP_BIN_DIR)",
    )
    group.addoption(
        "--keep-cluster-files",
        action="store_true",
        default=False,
        help="keep each cluster's temporary directory (profile, connection files, logs)",
    )
    group.addoption(
        "--test-timeout",
        type=float,
        default=float(os.environ.get("IPP_TEST_TIMEOUT", "240")),
        help="hard per-test time limit in seconds, scaled by IPP_TEST_TIMEOUT_SCALE (0 = none)",
    )


def pytest_configure(config):
    bin_dir = config.getoption("--ipp-bin-dir")
    if bin_dir:
        os.environ["IPP_BIN_DIR"] = os.path.abspath(bin_dir)
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def selected_impls(config) -> list[Impl]:
    # Always hand out the same objects: pytest reuses a higher-scoped parameter (and every
    # module cluster depending on it) only while the parameter value is the identical object.
    impls = getattr(config, "_ipp_impls", None)
    if impls is None:
        if config.getoption("--matrix"):
            impls = [Impl(c, e) for c in CONTROLLERS for e in ENGINES]
        else:
            impls = [Impl(config.getoption("--controller"), config.getoption("--engine"))]
        config._ipp_impls = impls
    return impls


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        impls = selected_impls(metafunc.config)
        metafunc.parametrize("impl", impls, ids=[i.id for i in impls], scope="session")


def pytest_report_header(config):
    impls = ", ".join(i.id for i in selected_impls(config))
    return [f"ipp implementations (controller-engine): {impls}", f"ipp C++ bin dir: {cpp_binary('')}"]


@pytest.fixture(scope="module")
def cluster(request, impl):
    """The module's shared cluster; modules set N_ENGINES / CONTROLLER_ARGS / PING_MS."""
    n = getattr(request.module, "N_ENGINES", 2)
    args = getattr(request.module, "CONTROLLER_ARGS", ())
    ping_ms = getattr(request.module, "PING_MS", 500)
    name = request.module.__name__.rsplit(".", 1)[-1]
    with running_cluster(
        impl, n, name, controller_args=args, ping_ms=ping_ms,
        keep_files=request.config.getoption("--keep-cluster-files"),
    ) as c:
        yield c


@pytest.fixture(scope="module")
def rc(cluster):
    """A connected ipyparallel.Client of the module's cluster."""
    return cluster.clients[0]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and ACTIVE_CLUSTERS:
        for c in ACTIVE_CLUSTERS:
            report.sections.append((f"cluster {c.name} ({c.impl.id}) logs", c.logs()))


class _TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = scaled(item.config.getoption("--test-timeout"))
    if limit <= 0:
        yield
        return

    def on_alarm(signum, frame):
        raise _TestTimeout(f"test exceeded {limit:.0f}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
