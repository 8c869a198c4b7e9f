"""Stopping a cluster: engine shutdown requests, SIGTERM to engines and controller, and
``Client.shutdown(hub=True)``. Each test starts its own cluster."""

import signal

import psutil
import pytest

from ipyparallel import interactive

from ipp_fixtures import running_cluster
from ipp_testcluster import kill_proc, wait_for


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def gone(procs):
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return not alive


@pytest.fixture
def keep(request):
    return request.config.getoption("--keep-cluster-files")


def test_engine_shutdown_and_sigterm_then_hub_shutdown(impl, keep):
    with running_cluster(impl, 3, "shutdown-all", keep_files=keep) as cluster:
        rc = cluster.clients[0]
        pids = dict(zip(rc.ids, rc[:].apply_sync(interactive(lambda: __import__("os").getpid()))))
        procs = {eid: cluster.engine_proc_for_pid(pid) for eid, pid in pids.items()}

        # 1. one engine via a control shutdown_request
        rc.shutdown(targets=[1], block=True)
        wait_for(lambda: not procs[1].alive(), 20, message="engine 1 to exit after shutdown_request")
        assert procs[1].popen.returncode == 0
        wait_for(lambda: 1 not in rc.ids, 20, message="engine 1 to unregister")

        # 2. one engine via SIGTERM
        kill_proc(procs[2], signal.SIGTERM)
        wait_for(lambda: not procs[2].alive(), 20, message="engine 2 to exit on SIGTERM")
        wait_for(lambda: 2 not in rc.ids, 20, message="engine 2 to unregister")
        assert rc.ids == [0]
        assert rc[0].apply_sync(interactive(lambda: "still here")) == "still here"

        # 3. everything through the hub
        controller = cluster.controller
        controller_children = descendants(controller.pid)
        rc.shutdown(hub=True, block=True)
        wait_for(lambda: not controller.alive(), 20, message="controller to exit after hub shutdown")
        wait_for(lambda: not procs[0].alive(), 20, message="last engine to exit")
        assert controller.popen.returncode == 0
        assert procs[0].popen.returncode == 0
        wait_for(lambda: gone(controller_children), 10, message="controller's child processes to exit")
        wait_for(
            lambda: not cluster.client_file.exists() and not cluster.engine_file.exists(),
            10,
            message="connection files to be removed",
        )
        wait_for(lambda: not cluster.tagged_processes(), 15, message="every cluster process to exit")


def test_sigterm_stops_controller(impl, keep):
    with running_cluster(impl, 1, "shutdown-sigterm", keep_files=keep) as cluster:
        rc = cluster.clients[0]
        assert rc[:].apply_sync(interactive(lambda: 1)) == [1]
        controller = cluster.controller
        children = descendants(controller.pid)
        kill_proc(controller, signal.SIGTERM)
        wait_for(lambda: not controller.alive(), 20, message="controller to exit on SIGTERM")
        assert controller.popen.returncode == 0
        wait_for(lambda: gone(children), 10, message="controller's child processes to exit")
        assert not cluster.client_file.exists()
        assert not cluster.engine_file.exists()
        # the engine is still running (it only gives up after many missed heartbeats);
        # it must stop on SIGTERM, which the cluster teardown checks
        assert cluster.engines[0].alive()
