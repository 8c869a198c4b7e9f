"""Smoke test for the benchmarks (bench/run.py --quick): every benchmark runs once at a tiny size
and produces well-formed figures. Speeds are not checked.

Needs the ipcontroller and loadgen binaries ($IPP_BIN_DIR, build-bench/bin or build/bin) and,
for the Dask rows, Debian's python3-distributed (scripts/install-deps.sh installs it).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import benchlib  # noqa: E402

PYTHON = "/usr/bin/python3"


def _has(mod: str) -> bool:
    return subprocess.run([PYTHON, "-c", f"import {mod}"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    not (benchlib.find_binary("ipcontroller") and benchlib.find_binary("loadgen")),
    reason="ipcontroller and loadgen binaries are needed (cmake --build ... --target loadgen)",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert _has("distributed"), "python3-distributed is missing: run scripts/install-deps.sh"
    systems = "ours,python,dask"
    argv = [PYTHON, str(REPO / "bench" / "run.py"), "--quick", "--systems", systems, "--status-cost",
            "--out", str(out)]
    if not _has("matplotlib"):
        argv.append("--no-plots")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    doc["_out"] = out
    doc["_systems"] = systems.split(",")
    return doc


def _figure(doc, bench_prefix: str, metric: str, system: str):
    for f in doc["figures"]:
        if f["benchmark"].startswith(bench_prefix) and f["metric"] == metric and f["system"] == system:
            return f
    raise AssertionError(f"no figure {bench_prefix!r}/{metric!r} for {system}; notes: {doc['notes']}")


def _positive(f):
    assert f["runs"], f
    v = f["median"]
    assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, f


def test_machine_and_versions(results):
    m = results["machine"]
    assert m["nproc"] >= 1 and m["memory_gb"] > 0 and m["cpu_model"]
    assert results["versions"]["ipyparallel"]
    assert "ours" in results["config"]


@pytest.mark.parametrize("system", ["ours", "python", "dask"])
def test_direct_latency(results, system):
    _positive(_figure(results, "1 ", "median latency", system))


@pytest.mark.parametrize("system", ["ours", "python", "dask"])
def test_lb_throughput_and_cpu(results, system):
    for bench in ("2 LB apply_async", "2 LB map chunksize=1", "2 LB map chunksize="):
        _positive(_figure(results, bench, "throughput", system))
        _positive(_figure(results, bench, "client CPU per task", system))
        # time the client's threads waited for a CPU: present, in µs per task, and not beyond
        # what its few threads could wait over the run's wall time
        wait = _figure(results, bench, "client waiting for a CPU per task (run queue)", system)
        wall_us = 1e6 / _figure(results, bench, "throughput", system)["median"]
        assert wait["runs"] and math.isfinite(wait["median"]), wait
        assert 0 <= wait["median"] < 10 * wall_us, (wait, wall_us)
    f = _figure(results, "3 cluster CPU per task", "cluster CPU per task", system)
    assert f["median"] is not None and f["median"] >= 0


@pytest.mark.parametrize("system", ["ours", "python", "dask"])
def test_cluster_cpu_by_thread(results, system):
    """Benchmark 3's profile: every load-balanced workload has, for the system, CPU and wake-ups
    per task for threads of both the controller and the engines (a Dask host's worker processes
    are its children: they count as engines only)."""
    by_workload = results["extra"]["cluster_threads"]
    assert {"LB apply_async", "LB map chunksize=1"} <= set(by_workload), list(by_workload)
    for workload, by_system in by_workload.items():
        runs = by_system[system]
        assert runs, (workload, system)
        for run in runs:
            for name, g in run.items():
                assert name.split(": ")[0] in ("controller", "engines"), name
                for v in g.values():
                    assert math.isfinite(v) and v >= 0, (workload, name, g)
            for part in ("controller", "engines"):
                assert any(k.startswith(part + ": ") and g["us_per_task"] > 0
                           for k, g in run.items()), (workload, part, run)
            if system == "ours":  # our controller names its threads
                assert "controller: ipcontroller / task" in run, sorted(run)


def test_client_limit(results):
    _positive(_figure(results, "2 LB apply_async", "throughput vs simulated engines (client limit)", "ours"))
    _positive(_figure(results, "1 direct round trip", "median latency vs simulated engines (client floor)", "ours"))
    _positive(_figure(results, "1 direct round trip", "client CPU per call vs simulated engines", "ours"))


@pytest.mark.parametrize("system", ["ours", "python"])
def test_registration(results, system):
    registered = _figure(results, "4 engine start to registered", "Python engine", system)
    first = _figure(results, "4 engine start to first result", "Python engine", system)
    _positive(registered)
    _positive(first)
    assert first["median"] >= registered["median"]


def test_ipcluster(results):
    _positive(_figure(results, "4 ipcluster start -n 2", "time", "python"))


@pytest.mark.parametrize("system", ["ours", "python"])
def test_capacity(results, system):
    f = _figure(results, "5 capacity", "throughput", system)
    _positive(f)
    assert f["details"][0]["errors"] == 0
    _positive(_figure(results, "5 capacity", "latency p99", system))
    g = _figure(results, "5 engines kept registered", "20 requested: registered after hold", system)
    assert g["median"] == 20, g
    # heartbeat-only peers, ping fan-out shared, engines spread over 3 loadgen processes
    h = _figure(results, "5 engines kept registered", "30 requested: registered after hold", system)
    assert h["median"] == 30, h
    assert _figure(results, "5 engines kept registered", "30 requested: unregistrations",
                   system)["median"] == 0


def test_client_pace_floor(results):
    """The load-balanced client runs against simulated engines behind our controller and behind
    bench/floor both completed and were metered (CPU ticks are coarse at this size: >= 0)."""
    bench = "3 cluster CPU per task vs simulated engines"
    for who in ("our controller", "the floor"):
        for metric in (f"{who}: CPU per task", f"simulated engines with {who}: CPU per task"):
            f = _figure(results, bench, metric, "ours")
            assert f["runs"] and f["median"] is not None and f["median"] >= 0, f


def test_capacity_floor(results):
    """bench/floor, the routing-only yardstick, ran every task of the same load without error."""
    f = _figure(results, "5 floor", "throughput", "ours")
    _positive(f)
    d = f["details"][0]
    assert d["errors"] == 0 and d["tasks_done"] == d["tasks"], d
    _positive(_figure(results, "5 floor", "controller CPU per task", "ours"))


@pytest.mark.parametrize("system", ["ours", "python"])
def test_memory(results, system):
    f = _figure(results, "6 controller memory", "VmRSS at end", system)
    _positive(f)
    _positive(_figure(results, "6 controller memory", "tasks run", system))
    assert len(f["details"][0]["curve"]) >= 3


@pytest.mark.parametrize("system", ["ours", "python"])
def test_broadcast(results, system):
    _positive(_figure(results, "7 push 2MB DirectView", "median time per push", system))
    _positive(_figure(results, "7 push 2MB BroadcastView", "median time per push", system))


def test_outputs(results):
    out = results["_out"]
    md = (out / "results.md").read_text()
    assert "| benchmark | metric |" in md
    assert "Cluster CPU per task by thread, LB apply_async" in md
    if _has("matplotlib"):
        for name in ("latency.png", "throughput.png", "cpu_per_task.png", "cpu_by_thread.png",
                     "capacity.png", "memory.png", "broadcast.png"):
            assert (out / name).stat().st_size > 0, name


def test_engine_bridge_benchmark():
    # bench/engine_bridge.py: the Python cost of one apply_request in our engine
    proc = subprocess.run([PYTHON, str(REPO / "bench" / "engine_bridge.py"), "--calls", "50",
                           "--profile", "--pause-ms", "0.5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first, second = proc.stdout.splitlines()[:2]
    assert first.startswith("Bridge.apply of a no-op: ") and "µs per call" in first, first
    assert float(first.split(": ")[1].split()[0]) > 0
    assert second.startswith("after 0.5 ms idle each: ") and "(median of 50 calls)" in second, second
    assert float(second.split(": ")[1].split()[0]) > 0
    assert "function calls" in proc.stdout  # the cProfile listing


def test_capacity_with_the_status_endpoint_scraped(results):
    """--status-cost: the capacity run again with the status endpoint on and /metrics fetched
    while it runs (every 0.1 s in the quick run), every scrape answered."""
    b = "5 capacity, status endpoint scraped every second"
    _positive(_figure(results, b, "throughput", "ours"))
    scrapes = _figure(results, b, "scrapes of /metrics", "ours")
    assert scrapes["median"] >= 1, scrapes
