#!/usr/bin/python3
"""One client workload, run in its own process so its CPU time is its own.

    client_work.py '{"system": "ipp"|"dask", "work": ..., "n": ..., ...}'

Connects, warms up, prints READY, waits for one line on stdin (the driver snapshots the
cluster's CPU counters in between), runs the workload, prints one JSON line with wall time,
its own CPU seconds (all threads, from getrusage), the seconds its threads waited for a CPU
while runnable (from /proc schedstat) and workload-specific figures.

Workloads:
  latency    n direct round trips of a no-op on engine 0 (ipp: rc[0].apply_sync;
             dask: submit(..., workers=[w0]).result())
  lb_apply   n load-balanced no-op tasks, one submit call each, then wait for all
  lb_map     map(noop, range(n), chunksize=c) (dask: client.map over chunks of c inputs)
  push       n pushes of a `size`-byte payload to every engine: DirectView.push,
             BroadcastView.push (ipp) / scatter(broadcast=True) (dask)
"""

import json
import os
import resource
import statistics
import sys
import time


def noop(*args):
    return None


def noop_chunk(xs):
    return [None for _ in xs]


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def runq_self():
    """Seconds this process's threads have spent runnable but waiting for a CPU (the second
    field of each thread's /proc schedstat): time the client lost to other processes."""
    total = 0
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):  # thread gone, or no schedstat
            pass
    return total / 1e9


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * (len(v) - 1)))]


def ready():
    print("READY", flush=True)
    sys.stdin.readline()


def run_ipp(a):
    import ipyparallel as ipp

    rc = ipp.Client(a["url_file"], profile_dir=a.get("profile_dir"), timeout=30)
    rc.wait_for_engines(a.get("engines", 1), timeout=60) if hasattr(rc, "wait_for_engines") else None
    t_deadline = time.time() + 60
    while len(rc.ids) < a.get("engines", 1) and time.time() < t_deadline:
        time.sleep(0.05)
    work, n = a["work"], a["n"]
    out = {}
    if work == "latency":
        v = rc[rc.ids[0]]
        for _ in range(max(20, n // 10)):
            v.apply_sync(noop)
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            v.apply_sync(noop)
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        out.update(lat_median_ms=statistics.median(lat) * 1e3, lat_p90_ms=pct(lat, 0.9) * 1e3,
                   lat_p99_ms=pct(lat, 0.99) * 1e3)
    elif work in ("lb_apply", "lb_map"):
        lv = rc.load_balanced_view()
        lv.map_sync(noop, range(50), chunksize=1)  # warm up
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        if work == "lb_apply":
            ars = [lv.apply_async(noop) for _ in range(n)]
            out["submit_s"] = time.perf_counter() - t0
            for ar in ars:
                ar.get()
        else:
            ar = lv.map_async(noop, range(n), chunksize=a.get("chunksize", 1))
            out["submit_s"] = time.perf_counter() - t0
            ar.get()
        wall = time.perf_counter() - t0
        out["tasks_per_s"] = n / wall
    elif work == "push":
        payload = os.urandom(a["size"])
        view = rc.broadcast_view() if a.get("view") == "broadcast" else rc[:]
        view.push({"x": payload}, block=True)
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            view.push({"x": payload}, block=True)
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        out.update(lat_median_ms=statistics.median(lat) * 1e3,
                   mb_per_s=a["size"] * len(rc.ids) * n / wall / 1e6)
    else:
        raise SystemExit(f"unknown work {work}")
    out["cpu_s"] = cpu_self() - c0
    out["runq_s"] = max(0.0, runq_self() - q0)
    out["wall_s"] = wall
    out["n"] = n
    rc.close()
    return out


def run_dask(a):
    from distributed import Client, wait

    c = Client(a["address"], timeout=30)
    c.wait_for_workers(a.get("engines", 1), timeout=60)
    workers = sorted(c.scheduler_info()["workers"])
    work, n = a["work"], a["n"]
    out = {}
    if work == "latency":
        w0 = [workers[0]]
        for _ in range(max(20, n // 10)):
            c.submit(noop, pure=False, workers=w0).result()
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            c.submit(noop, pure=False, workers=w0).result()
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        out.update(lat_median_ms=statistics.median(lat) * 1e3, lat_p90_ms=pct(lat, 0.9) * 1e3,
                   lat_p99_ms=pct(lat, 0.99) * 1e3)
    elif work in ("lb_apply", "lb_map"):
        wait(c.map(noop, range(50), pure=False))
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        if work == "lb_apply":
            futs = [c.submit(noop, i, pure=False) for i in range(n)]
        else:
            k = a.get("chunksize", 1)
            if k == 1:
                futs = c.map(noop, range(n), pure=False)
            else:
                chunks = [list(range(i, min(n, i + k))) for i in range(0, n, k)]
                futs = c.map(noop_chunk, chunks, pure=False)
        out["submit_s"] = time.perf_counter() - t0
        c.gather(futs)
        wall = time.perf_counter() - t0
        out["tasks_per_s"] = n / wall
        del futs
    elif work == "push":
        payload = os.urandom(a["size"])
        f = c.scatter(payload, broadcast=True, hash=False)
        del f
        ready()
        c0, q0, t0 = cpu_self(), runq_self(), time.perf_counter()
        lat = []
        for _ in range(n):
            t = time.perf_counter()
            f = c.scatter(payload, broadcast=True, hash=False)
            lat.append(time.perf_counter() - t)
            del f
        wall = time.perf_counter() - t0
        out.update(lat_median_ms=statistics.median(lat) * 1e3,
                   mb_per_s=a["size"] * len(workers) * n / wall / 1e6)
    else:
        raise SystemExit(f"unknown work {work}")
    out["cpu_s"] = cpu_self() - c0
    out["runq_s"] = max(0.0, runq_self() - q0)
    out["wall_s"] = wall
    out["n"] = n
    c.close()
    return out


def main():
    a = json.loads(sys.argv[1])
    out = run_dask(a) if a["system"] == "dask" else run_ipp(a)
    print("RESULT " + json.dumps(out), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip slow interpreter teardown of client threads


if __name__ == "__main__":
    main()
