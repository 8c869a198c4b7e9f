"""Cluster life cycle for pytest fixtures (importable by test modules, unlike conftest.py,
whose module name is shared with other conftest files of the tree)."""

from __future__ import annotations

import contextlib

import pytest

from ipp_testcluster import Impl, TestCluster, cpp_binary, cpp_binary_available

#: clusters currently running, so that failing tests can show their logs
ACTIVE_CLUSTERS: list[TestCluster] = []


def skip_if_unavailable(impl: Impl, n_engines: int):
    missing = [b for b in impl.needed_binaries(n_engines) if not cpp_binary_available(b)]
    if missing:
        pytest.skip(
            f"C++ binary not built: {', '.join(str(cpp_binary(b)) for b in missing)} "
            f"(set IPP_BIN_DIR or --ipp-bin-dir)"
        )


@contextlib.contextmanager
def running_cluster(
    impl: Impl,
    n_engines: int,
    name: str,
    controller_args=(),
    ping_ms: int = 500,
    keep_files: bool = False,
    connect: bool = True,
    log_level: int = 10,
):
    """Start a controller and ``n_engines`` engines; yield the :class:`TestCluster`.

    On exit stop everything (hub shutdown through the client, then SIGTERM, then SIGKILL),
    remove the temporary directory, and fail if any process was left behind or did not
    stop on SIGTERM.
    """
    skip_if_unavailable(impl, n_engines)
    cluster = TestCluster(impl, name=name, controller_args=controller_args, ping_ms=ping_ms,
                          log_level=log_level)
    ACTIVE_CLUSTERS.append(cluster)
    try:
        try:
            cluster.start_controller()
            if n_engines:
                cluster.start_engines(n_engines)
            if connect:
                rc = cluster.connect()
                if n_engines:
                    cluster.wait_for_engines(rc, n_engines)
        except Exception as e:
            pytest.fail(
                f"cluster {name} ({impl.id}) failed to start: {e!r}\n{cluster.logs()}",
                pytrace=False,
            )
        yield cluster
    finally:
        ACTIVE_CLUSTERS.remove(cluster)
        _notes, problems = cluster.stop()
        logs = cluster.logs() if problems else ""
        if not keep_files:
            cluster.remove_files()
        if problems:
            pytest.fail(
                f"cluster {name} ({impl.id}) did not stop cleanly: {problems}\n{logs}",
                pytrace=False,
            )
