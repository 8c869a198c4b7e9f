#!/usr/bin/python3
"""Benchmarks: our ipcontroller/ipengine against Python ipyparallel 7.1 and Dask distributed.

    /usr/bin/python3 bench/run.py [--quick] [--systems ours,python,dask] [--engine-impl python|ours]
                                  [--reps 3] [--engines 2] [--out docs/bench] [--only 1,2,5]

Runs every benchmark for every system in the same run, alternating the systems run by run,
and writes results.json, results.md and *.png into --out. Prints figures; asserts nothing.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

SYSTEM_LABEL = {"ours": "ours", "python": "Python ipyparallel 7.1", "dask": "Dask distributed"}


class Results:
    def __init__(self):
        self.figures: list[dict] = []
        self.notes: list[str] = []
        self.extra: dict = {}

    def add(self, bench: str, metric: str, system: str, value, unit: str, better: str = "lower",
            detail: dict | None = None):
        for f in self.figures:
            if f["benchmark"] == bench and f["metric"] == metric and f["system"] == system:
                f["runs"].append(value)
                if detail:
                    f.setdefault("details", []).append(detail)
                break
        else:
            f = {"benchmark": bench, "metric": metric, "system": system, "unit": unit,
                 "better": better, "runs": [value]}
            if detail:
                f["details"] = [detail]
            self.figures.append(f)
        vals = [v for v in f["runs"] if v is not None]
        f["median"] = statistics.median(vals) if vals else None
        print(f"  {bench:<28} {metric:<34} {system:<7} {fmt(value)} {unit}", flush=True)


def fmt(v):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return str(v)


# ------------------------------------------------------------------------ client workloads
def run_client_work(args: dict, cpu_roots: dict, log_dir: Path, timeout: float = 600) -> dict:
    """Runs bench/client_work.py; returns its figures plus the cluster's CPU seconds."""
    p = subprocess.Popen([bl.PYTHON, str(bl.BENCH / "client_work.py"), json.dumps(args)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=open(log_dir / "client.log", "ab"), start_new_session=True)
    try:
        line = p.stdout.readline().decode()
        if line.strip() != "READY":
            raise RuntimeError(f"client failed before READY: {line!r} (see {log_dir}/client.log)")
        meter = bl.CpuMeter(cpu_roots).start()
        p.stdin.write(b"go\n")
        p.stdin.flush()
        result = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = p.stdout.readline().decode()
            if not line:
                break
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
                break
        cpu = meter.stop()
        if result is None:
            raise RuntimeError(f"client produced no result (see {log_dir}/client.log)")
        result["cluster_cpu_s"] = cpu
        result["cluster_threads"] = meter.threads
        return result
    finally:
        bl.Procs.kill(p)


def start_system(system: str, engine_impl: str, n: int, root: Path):
    if system == "dask":
        c = bl.DaskCluster(n, root)
    elif system == "ours":
        c = bl.IppCluster("ours", engine_impl, n, root)
    else:
        c = bl.IppCluster("python", "python", n, root)
    c.start()
    return c


def client_args(system: str, cluster) -> dict:
    if system == "dask":
        return {"system": "dask", "address": cluster.address, "engines": cluster.n}
    return {"system": "ipp", "url_file": str(cluster.client_file),
            "profile_dir": str(cluster.profile), "engines": cluster.n}


def bench_client_side(R: Results, a, systems: list[str]):
    """Benchmarks 1, 2, 3 and 7: one cluster per (system, rep), all workloads on it."""
    n_lat, n_lb, n_map, chunk, n_push, size = a.sizes
    workloads = [
        ("1 direct round trip", "latency", {"work": "latency", "n": n_lat}, ["ours", "python", "dask"]),
        ("2 LB apply_async", "lb_apply", {"work": "lb_apply", "n": n_lb}, ["ours", "python", "dask"]),
        ("2 LB map chunksize=1", "lb_map1", {"work": "lb_map", "n": n_lb, "chunksize": 1},
         ["ours", "python", "dask"]),
        (f"2 LB map chunksize={chunk}", "lb_mapC", {"work": "lb_map", "n": n_map, "chunksize": chunk},
         ["ours", "python", "dask"]),
        ("7 push 2MB DirectView", "push_direct", {"work": "push", "n": n_push, "size": size},
         ["ours", "python", "dask"]),
        ("7 push 2MB BroadcastView", "push_bcast",
         {"work": "push", "n": n_push, "size": size, "view": "broadcast"}, ["ours", "python"]),
    ]
    for rep in range(a.reps):
        order = systems[rep % len(systems):] + systems[:rep % len(systems)]
        for system in order:
            root = bl.tmpdir(f"ipp-bench-{system}-")
            print(f"[rep {rep + 1}/{a.reps}] {system}: starting cluster ({a.engines} engines)", flush=True)
            try:
                cl = start_system(system, a.engine_impl, a.engines, root)
            except Exception as e:
                R.notes.append(f"{system}: cluster failed to start in rep {rep + 1}: {e}")
                print(f"  cluster failed: {e}", flush=True)
                bl.rmtree(root) if not a.keep else None
                continue
            try:
                for bench, key, wargs, applies in workloads:
                    if system not in applies:
                        continue
                    if key == "lb_mapC" and system == "dask":
                        bench_name = bench  # dask: map over chunks (no chunksize argument)
                    else:
                        bench_name = bench
                    try:
                        r = run_client_work({**client_args(system, cl), **wargs}, cl.cpu_roots(), root)
                    except Exception as e:
                        R.notes.append(f"{system} {key} rep {rep + 1}: {e}")
                        print(f"  {key} failed: {e}", flush=True)
                        continue
                    record_client(R, bench_name, key, system, r)
            finally:
                cl.stop()
                if not a.keep:
                    bl.rmtree(root)


def record_client(R: Results, bench: str, key: str, system: str, r: dict):
    n = r["n"]
    if key == "latency":
        R.add(bench, "median latency", system, r["lat_median_ms"], "ms")
        R.add(bench, "p99 latency", system, r["lat_p99_ms"], "ms")
    elif key.startswith("lb"):
        R.add(bench, "throughput", system, r["tasks_per_s"], "tasks/s", "higher")
        R.add(bench, "client CPU per task", system, r["cpu_s"] / n * 1e6, "µs")
        R.add(bench, "client limit (1/client CPU per task)", system,
              n / r["cpu_s"] if r["cpu_s"] > 0 else None, "tasks/s", "higher")
        # runnable but not running: what the other processes on the machine took from the client
        R.add(bench, "client waiting for a CPU per task (run queue)", system,
              r["runq_s"] / n * 1e6, "µs")
        cpu = r["cluster_cpu_s"]
        b3 = "3 cluster CPU per task (" + bench[2:] + ")"
        R.add(b3, "controller CPU per task", system, cpu["controller"] / n * 1e6, "µs")
        R.add(b3, "engine CPU per task", system, cpu["engines"] / n * 1e6, "µs")
        R.add(b3, "cluster CPU per task", system, (cpu["controller"] + cpu["engines"]) / n * 1e6, "µs")
        record_threads(R, bench[2:], system, r["cluster_threads"], n)
    elif key.startswith("push"):
        R.add(bench, "median time per push", system, r["lat_median_ms"], "ms")
        R.add(bench, "controller CPU per push", system, r["cluster_cpu_s"]["controller"] / n * 1e3, "ms")


def record_threads(R: Results, workload: str, system: str, threads: dict, n: int):
    """One run's cluster CPU and wake-ups per task, thread by thread: the profile behind
    benchmark 3. Kept per run in extra["cluster_threads"]; report.py gives the medians."""
    run = {}
    for part, groups in threads.items():
        for name, g in groups.items():
            run[f"{part}: {name}"] = {"us_per_task": g["cpu_s"] / n * 1e6,
                                      "wakeups_per_task": g["wakeups"] / n}
    R.extra.setdefault("cluster_threads", {}).setdefault(workload, {}).setdefault(system, []).append(run)


# ------------------------------------------------------------------------ loadgen
def loadgen_bin():
    p = bl.find_binary("loadgen")
    if not p:
        raise RuntimeError("loadgen not built: cmake --build <build dir> --target loadgen")
    return p


def run_loadgen(cluster, args: list[str], log_dir: Path, on_progress=None, timeout=900):
    argv = [str(loadgen_bin()), "--client-file", str(cluster.client_file),
            "--engine-file", str(cluster.engine_file)] + args
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=open(log_dir / "loadgen.log", "ab"), start_new_session=True)
    result = None
    timer = threading.Timer(timeout, lambda: bl.Procs.kill(p))
    timer.start()
    try:
        for raw in p.stdout:
            line = raw.decode()
            if line.startswith("PROGRESS ") and on_progress:
                on_progress(json.loads(line[9:]))
            elif line.startswith("RESULT "):
                result = json.loads(line[7:])
                break
    finally:
        timer.cancel()
        bl.Procs.kill(p)
    if result is None:
        raise RuntimeError(f"loadgen produced no result (see {log_dir}/loadgen.log)")
    return result


def bench_loadgen(R: Results, a, controllers: list[str]):
    """Benchmarks 5 and 6: controller capacity and memory with simulated peers."""
    parts = set(a.loadgen_parts.split(","))
    # The floor (bench/floor) takes its turn beside ours: what libzmq and the kernel leave of
    # this machine for a controller that only routes and checks signatures.
    cap_ctls = controllers + (["floor"] if "ours" in controllers and bl.find_binary("floor") else [])
    # --status-cost: ours again with its status endpoint on and /metrics scraped every second
    if a.status_cost and "ours" in controllers:
        cap_ctls.append("ours+status")
    for rep in range(a.lg_reps if "capacity" in parts else 0):
        order = cap_ctls[rep % len(cap_ctls):] + cap_ctls[:rep % len(cap_ctls)]
        for ctl in order:
            root = bl.tmpdir(f"ipp-bench-lg-{ctl}-")
            with_status = ctl == "ours+status"
            cl = bl.IppCluster("ours" if with_status else ctl, "python", 0, root,
                               controller_args=["--status-port=0"] if with_status else [])
            scraper = None
            try:
                cl.start_controller()
                if with_status:
                    # every second, as documented; the quick run is too short for that
                    scraper = bl.MetricsScraper(cl.profile / "security" / "ipcontroller-status.json",
                                                every=0.1 if a.quick else 1.0).start()
                meter = bl.CpuMeter({"controller": [cl.controller.pid]}).start()
                n_tasks = a.lg_tasks_python if ctl == "python" else a.lg_tasks
                r = run_loadgen(cl, ["--engines", str(a.lg_engines), "--tasks", str(n_tasks),
                                     "--clients", str(a.lg_clients), "--window", str(a.lg_window)],
                                root, timeout=a.lg_timeout)
                cpu = meter.stop()["controller"]
                load = f"({a.lg_engines} sim engines, {a.lg_clients} clients)"
                b, system = f"5 capacity {load}", ctl
                if ctl == "floor":
                    b, system = f"5 floor: routing and signature checks only {load}", "ours"
                if with_status:
                    scrapes, failures = scraper.stop()
                    if failures or not scrapes:
                        raise RuntimeError(f"/metrics scrapes: {scrapes} ok, {failures} failed")
                    b, system = f"5 capacity, status endpoint scraped every second {load}", "ours"
                    R.add(b, "scrapes of /metrics", system, scrapes, "scrapes", "higher")
                done = r.get("tasks_done", 0)
                R.add(b, "throughput", system, r.get("tasks_per_s"), "tasks/s", "higher",
                      {"errors": r.get("errors"), "tasks_done": done, "tasks": n_tasks})
                R.add(b, "latency p50", system, r["latency_ms"]["p50"], "ms")
                R.add(b, "latency p90", system, r["latency_ms"]["p90"], "ms")
                R.add(b, "latency p99", system, r["latency_ms"]["p99"], "ms")
                R.add(b, "controller CPU per task", system, cpu / max(1, done) * 1e6, "µs")
                R.add(b, "tasks/s per controller CPU-second", system,
                      done / cpu if cpu > 0 else None, "tasks/s", "higher")
            except Exception as e:
                R.notes.append(f"loadgen throughput {ctl}: {e}")
                print(f"  loadgen {ctl} failed: {e}", flush=True)
            finally:
                if scraper is not None:
                    scraper.stop()
                cl.stop()
                bl.rmtree(root) if not a.keep else None

    # engines kept registered
    for count, shell in (a.lg_engine_counts if "registered" in parts else []):
        for ctl in controllers:
            root = bl.tmpdir(f"ipp-bench-cap-{ctl}-")
            cl = bl.IppCluster(ctl, "python", 0, root, ping_ms=a.lg_ping)
            try:
                cl.start_controller()
                r = run_loadgen(cl, ["--engines", str(count), "--engine-threads", "2",
                                     "--duration", str(a.lg_hold), "--report-every", "1",
                                     "--register-timeout", str(a.lg_reg_timeout)]
                                # heartbeat-only peers: one ping SUB per loadgen shard and the
                                # engines over 3 processes, so 10,000 fit the open-file limit
                                + ([] if shell else ["--no-shell", "--shared-ping",
                                                     "--processes", "3"]),
                                root, timeout=a.lg_reg_timeout + a.lg_hold + 120)
                b = (f"5 engines kept registered (ping {a.lg_ping} ms, "
                     f"{'heartbeat-only' if not shell else 'full'} peers)")
                seen = [p.get("hub_engines", -1) for p in r.get("timeline", [])]
                held = r.get("hub_engines_min_after_register")
                if held is None or held < 0:
                    R.notes.append(f"{ctl}, {count} engines: the hub did not answer connection_request "
                                   f"within 10 s during the hold; most engines it listed: {max(seen + [0])}")
                    held = None
                R.add(b, f"{count} requested: registered after hold", ctl, held, "engines", "higher",
                      {"unregistered": r.get("unregistration_notifications"),
                       "register_all_s": r.get("register_all_s"), "timeline": r.get("timeline")})
                R.add(b, f"{count} requested: most engines listed by the hub", ctl, max(seen + [0]),
                      "engines", "higher")
                R.add(b, f"{count} requested: time to all registered", ctl,
                      r.get("register_all_s") if r.get("register_all_s", -1) >= 0 else None, "s")
                R.add(b, f"{count} requested: unregistrations", ctl,
                      r.get("unregistration_notifications"), "engines")
                R.add(b, f"{count} requested: controller RSS", ctl,
                      bl.tree_rss_kb(cl.controller.pid) / 1024, "MiB")
            except Exception as e:
                R.notes.append(f"loadgen capacity {ctl} {count}: {e}")
                print(f"  capacity {ctl} {count} failed: {e}", flush=True)
            finally:
                cl.stop()
                bl.rmtree(root) if not a.keep else None

    # memory after many tasks
    for ctl in (controllers if "memory" in parts else []):
        n = a.mem_tasks if ctl == "ours" else a.mem_tasks_python
        root = bl.tmpdir(f"ipp-bench-mem-{ctl}-")
        cl = bl.IppCluster(ctl, "python", 0, root)
        try:
            cl.start_controller()
            points = [(0, bl.tree_rss_kb(cl.controller.pid) / 1024)]

            def on_progress(p, cl=cl, points=points):
                if "tasks" in p:
                    points.append((p["tasks"], bl.tree_rss_kb(cl.controller.pid) / 1024))

            r = run_loadgen(cl, ["--engines", str(a.lg_engines), "--tasks", str(n), "--clients",
                                 str(a.lg_clients), "--window", str(a.lg_window),
                                 "--progress-every", str(max(1, n // 10))],
                            root, on_progress, timeout=a.lg_timeout * 4)
            time.sleep(1.0)
            done = r.get("tasks_done", n)
            points.append((done, bl.tree_rss_kb(cl.controller.pid) / 1024))
            b = "6 controller memory (default DB)"
            R.add(b, "tasks run", ctl, done, "tasks", "higher")
            R.add(b, "VmRSS at start", ctl, points[0][1], "MiB")
            R.add(b, "VmRSS at end", ctl, points[-1][1], "MiB", detail={"curve": points})
            R.add(b, "PSS at end (all controller processes)", ctl, bl.tree_pss_kb(cl.controller.pid) / 1024, "MiB")
            half = [p for p in points[1:-1] if p[0] >= done / 2]
            if len(half) >= 2 and half[-1][0] > half[0][0]:
                slope = (half[-1][1] - half[0][1]) / (half[-1][0] - half[0][0]) * 100_000
                R.add(b, "growth over the second half, per 100k tasks", ctl, slope, "MiB")
            R.extra.setdefault("memory_curves", {})[ctl] = points
        except Exception as e:
            R.notes.append(f"memory {ctl}: {e}")
            print(f"  memory {ctl} failed: {e}", flush=True)
        finally:
            cl.stop()
            bl.rmtree(root) if not a.keep else None


def bench_sink(R: Results, a):
    """Benchmark 2's 'client limit': the Python client against our controller and fast
    simulated engines (the loadgen), so the client itself is the bottleneck. With bench/floor
    built, the apply_async workload also runs against the floor in its place, alternated: what
    routing and signature checks alone cost per task at one client's pace."""
    n_lat, n_lb, n_map, chunk, n_push, size = a.sizes
    kinds = ["ours"] + (["floor"] if bl.find_binary("floor") else [])
    cpu_bench = "3 cluster CPU per task vs simulated engines (LB apply_async)"
    for rep in range(a.reps):
        for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
            root = bl.tmpdir(f"ipp-bench-sink-{kind}-")
            cl = bl.IppCluster(kind, "python", 0, root)
            lg = None
            try:
                cl.start_controller()
                lg = subprocess.Popen([str(loadgen_bin()), "--client-file", str(cl.client_file),
                                       "--engine-file", str(cl.engine_file), "--engines",
                                       str(a.sink_engines)],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=open(root / "loadgen.log", "ab"), start_new_session=True)
                rc = cl.client()
                bl.wait_for(lambda: len(rc.ids) >= a.sink_engines, 60, 0.1, "simulated engines")
                rc.close()
                args = {"system": "ipp", "url_file": str(cl.client_file),
                        "profile_dir": str(cl.profile), "engines": a.sink_engines}
                roots = {"controller": [cl.controller.pid], "engines": [lg.pid]}
                if kind == "ours":
                    # the round trip the client reaches when the cluster answers at once: its
                    # own floor
                    r = run_client_work({**args, "work": "latency", "n": n_lat}, roots, root)
                    R.add("1 direct round trip", "median latency vs simulated engines (client floor)",
                          "ours", r["lat_median_ms"], "ms")
                    R.add("1 direct round trip", "client CPU per call vs simulated engines", "ours",
                          r["cpu_s"] / r["n"] * 1e6, "µs")
                works = [("lb_apply", {"work": "lb_apply", "n": n_lb})]
                if kind == "ours":
                    works.append(("lb_map1", {"work": "lb_map", "n": n_lb, "chunksize": 1}))
                for key, w in works:
                    r = run_client_work({**args, **w}, roots, root)
                    if key == "lb_apply":
                        cpu = r["cluster_cpu_s"]
                        who = "our controller" if kind == "ours" else "the floor"
                        R.add(cpu_bench, f"{who}: CPU per task", "ours",
                              cpu["controller"] / r["n"] * 1e6, "µs")
                        R.add(cpu_bench, f"simulated engines with {who}: CPU per task", "ours",
                              cpu["engines"] / r["n"] * 1e6, "µs")
                    if kind != "ours":
                        continue
                    name = "2 LB apply_async" if key == "lb_apply" else "2 LB map chunksize=1"
                    R.add(name, "throughput vs simulated engines (client limit)", "ours",
                          r["tasks_per_s"], "tasks/s", "higher")
                    R.add(name, "submit-only rate vs simulated engines", "ours",
                          r["n"] / r["submit_s"], "tasks/s", "higher")
            except Exception as e:
                R.notes.append(f"sink {kind}: {e}")
                print(f"  sink {kind} failed: {e}", flush=True)
            finally:
                if lg:
                    bl.Procs.kill(lg)
                cl.stop()
                bl.rmtree(root) if not a.keep else None


# ------------------------------------------------------------------------ startup
def _startup_noop():
    return None


def bench_startup(R: Results, a):
    """Benchmark 4: one engine's registration; ipcluster start -n 2 to two engines."""
    combos = [("ours", "python"), ("python", "python")]
    if bl.find_binary("ipengine"):
        combos.insert(1, ("ours", "ours"))
        combos.append(("python", "ours"))
    else:
        R.notes.append("ipengine binary not found: engine registration measured for Python's engine only")
    for rep in range(a.reps):
        for ctl, eng in (combos if rep % 2 == 0 else combos[::-1]):
            root = bl.tmpdir("ipp-bench-reg-")
            cl = bl.IppCluster(ctl, eng, 0, root, ping_ms=a.startup_ping)
            try:
                cl.start_controller()
                rc = cl.client()
                time.sleep(0.3)
                t0 = time.perf_counter()
                cl.start_engine()
                bl.wait_for(lambda: len(rc.ids) >= 1, 60, 0.005, "engine registration")
                dt = time.perf_counter() - t0
                # a registered engine may still be finishing its start-up (ours builds its shell
                # after the heart starts): the first result shows when it does work
                rc[rc.ids[0]].apply_sync(_startup_noop)
                dt_first = time.perf_counter() - t0
                rc.close()
                eng_label = "our ipengine" if eng == "ours" else "Python engine"
                ctl_label = "ours" if ctl == "ours" else "python"
                R.add("4 engine start to registered", f"{eng_label}", ctl_label, dt, "s")
                R.add("4 engine start to first result", f"{eng_label}", ctl_label, dt_first, "s")
            except Exception as e:
                R.notes.append(f"registration {ctl}/{eng}: {e}")
                print(f"  registration {ctl}/{eng} failed: {e}", flush=True)
            finally:
                cl.stop()
                bl.rmtree(root) if not a.keep else None

    ours = bl.find_binary("ipcluster")
    kinds = ["python"] + (["ours"] if ours else [])
    if not ours:
        R.notes.append("ipcluster binary not found: `ipcluster start -n 2` measured for Python's only")
    for rep in range(a.reps):
        for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
            root = bl.tmpdir("ipp-bench-ipcluster-")
            profile = root / "profile_bench"
            env = {k: v for k, v in os.environ.items() if not k.startswith("IPP_")}
            env["IPYTHONDIR"] = str(root / "ipython")
            procs = bl.Procs(root)
            argv = ([str(ours)] if kind == "ours" else [bl.PYTHON, "-m", "ipyparallel.cluster"])
            try:
                t0 = time.perf_counter()
                procs.spawn("ipcluster", argv + ["start", "-n", "2", f"--profile-dir={profile}"], env=env)
                cf = profile / "security" / "ipcontroller-client.json"
                bl.wait_for(lambda: cf.exists() and cf.stat().st_size > 0, 60, 0.01, "client file")
                import ipyparallel as ipp
                rc = None
                deadline = time.monotonic() + 60
                while rc is None:
                    try:
                        rc = ipp.Client(str(cf), profile_dir=str(profile), timeout=5)
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                bl.wait_for(lambda: len(rc.ids) >= 2, 60, 0.005, "2 engines")
                dt = time.perf_counter() - t0
                rc.close()
                R.add("4 ipcluster start -n 2 to 2 engines", "time", kind, dt, "s")
                subprocess.run(argv + ["stop", f"--profile-dir={profile}"], env=env, timeout=30,
                               capture_output=True)
            except Exception as e:
                R.notes.append(f"ipcluster {kind}: {e}")
                print(f"  ipcluster {kind} failed: {e}", flush=True)
            finally:
                procs.stop()
                bl.rmtree(root) if not a.keep else None


# ------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", default="ours,python,dask")
    ap.add_argument("--engine-impl", choices=["python", "ours"], default="python",
                    help="engines of the 'ours' system: Python's ipyparallel 7.1 engines (the default, "
                         "which isolates the controller) or our ipengine")
    ap.add_argument("--engines", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--only", default="1,2,3,4,5,6,7", help="benchmark numbers to run")
    ap.add_argument("--out", default=str(bl.REPO / "docs" / "bench"))
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep temporary profiles and logs")
    ap.add_argument("--status-cost", action="store_true",
                    help="benchmark 5's capacity run also with our controller's status endpoint "
                         "on and /metrics scraped every second (the endpoint's cost)")
    ap.add_argument("--loadgen-parts", default="capacity,registered,memory",
                    help="which parts of benchmarks 5-6 to run (comma-separated)")
    a = ap.parse_args()

    systems = [s for s in a.systems.split(",") if s]
    only = {int(x) for x in a.only.split(",") if x}
    if a.engine_impl == "ours" and not bl.find_binary("ipengine"):
        print("--engine-impl=ours but no ipengine binary found", file=sys.stderr)
        return 2
    if a.quick:
        a.reps = 1
        a.sizes = (10, 20, 20, 4, 1, 200_000)  # latency, lb, map, chunk, pushes, push size
        a.startup_ping = 500  # quick figures for registration are not comparable with full runs
        a.lg_reps, a.lg_engines, a.lg_tasks, a.lg_clients, a.lg_window = 1, 4, 2000, 2, 16
        a.lg_tasks_python = 1000
        a.lg_engine_counts, a.lg_ping, a.lg_hold, a.lg_reg_timeout = [(20, True), (30, False)], 500, 1.5, 30
        a.mem_tasks, a.mem_tasks_python, a.lg_timeout = 3000, 1000, 60
        a.sink_engines = 4
    else:
        a.sizes = (300, 1000, 20_000, 64, 5, 2 * 1024 * 1024)
        a.startup_ping = None  # controllers' default heartbeat period (3 s)
        a.lg_reps, a.lg_engines, a.lg_tasks, a.lg_clients, a.lg_window = min(2, a.reps), 32, 100_000, 4, 32
        if a.status_cost:
            a.lg_reps = a.reps  # a small difference needs many alternations
        a.lg_tasks_python = 10_000
        # hold for more than the 10 missed periods after which a controller drops an engine
        a.lg_engine_counts, a.lg_ping, a.lg_hold, a.lg_reg_timeout = [(1000, True), (10000, False)], 3000, 40, 240
        a.mem_tasks, a.mem_tasks_python, a.lg_timeout = 1_000_000, 50_000, 300
        a.sink_engines = 16
    bl.raise_fd_limit()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    R = Results()
    meta = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": bl.machine_info(),
        "versions": bl.versions(),
        "config": {"systems": systems, "engines": a.engines, "reps": a.reps, "quick": a.quick,
                   "ours": f"our ipcontroller + {'our ipengine' if a.engine_impl == 'ours' else 'Python engines (ipyparallel 7.1)'}",
                   "sizes": dict(zip(["latency_calls", "lb_tasks", "map_tasks", "chunksize", "pushes",
                                      "push_bytes"], a.sizes)),
                   "loadgen": {"engines": a.lg_engines, "tasks": a.lg_tasks, "tasks_python": a.lg_tasks_python, "clients": a.lg_clients,
                               "window": a.lg_window, "engine_counts": a.lg_engine_counts,
                               "hold_s": a.lg_hold, "ping_ms": a.lg_ping, "memory_tasks": a.mem_tasks,
                               "memory_tasks_python": a.mem_tasks_python}},
    }
    print(f"machine: {meta['machine']}\nours = {meta['config']['ours']}", flush=True)
    t_start = time.time()
    load_samples = [os.getloadavg()[0]]
    stop_sampling = threading.Event()

    def sample_load():
        while not stop_sampling.wait(10):
            load_samples.append(os.getloadavg()[0])

    threading.Thread(target=sample_load, daemon=True).start()

    steps = [
        ({1, 2, 3, 7}, "client-side benchmarks (1, 2, 3, 7)", lambda: bench_client_side(R, a, systems)),
        ({1, 2}, "client limit against simulated engines (1, 2)",
         lambda: bench_sink(R, a) if "ours" in systems else None),
        ({4}, "startup (4)", lambda: bench_startup(R, a)),
        ({5, 6}, "controller capacity and memory (5, 6)",
         lambda: bench_loadgen(R, a, [s for s in ("ours", "python") if s in systems])),
    ]
    for nums, title, fn in steps:
        if not (nums & only):
            continue
        print(f"== {title}", flush=True)
        try:
            fn()
        except Exception as e:
            traceback.print_exc()
            R.notes.append(f"{title}: {e}")
    stop_sampling.set()
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta["duration_s"] = round(time.time() - t_start, 1)
    meta["machine"]["loadavg_1min_during_run"] = {
        "min": min(load_samples), "median": statistics.median(load_samples), "max": max(load_samples)}
    doc = {**meta, "figures": R.figures, "notes": R.notes, "extra": R.extra}
    (out / "results.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    import report
    md = report.markdown(doc)
    (out / "results.md").write_text(md)
    if not a.no_plots:
        try:
            report.plots(doc, out)
        except Exception as e:
            print(f"plots failed: {e}", file=sys.stderr)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
