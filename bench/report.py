"""Markdown table and PNG plots from a results.json document (bench/run.py)."""

from __future__ import annotations

from pathlib import Path


def _fmt(v):
    if v is None:
        return "–"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return str(v)


def _ratio(a, b):
    if a is None or b in (None, 0):
        return "–"
    return f"{a / b:.3g}"


def rows(doc):
    """(benchmark, metric, unit, {system: median}, {system: runs}) in first-seen order."""
    order, table = [], {}
    for f in doc["figures"]:
        key = (f["benchmark"], f["metric"])
        if key not in table:
            order.append(key)
            table[key] = {"unit": f["unit"], "median": {}, "runs": {}, "better": f["better"]}
        table[key]["median"][f["system"]] = f["median"]
        table[key]["runs"][f["system"]] = f["runs"]
    return [(b, m, table[(b, m)]) for b, m in order]


def markdown(doc) -> str:
    m = doc["machine"]
    v = doc["versions"]
    lines = [
        f"Run {doc.get('started', '')} ({doc.get('duration_s', '?')} s), "
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, load average (1 min) during "
        f"the run: median {m.get('loadavg_1min_during_run', {}).get('median', '?'):.2f}, "
        f"max {m.get('loadavg_1min_during_run', {}).get('max', 0):.2f}.",
        "",
        f"ours = {doc['config']['ours']}; ipyparallel {v.get('ipyparallel')}, pyzmq {v.get('zmq')} "
        f"(libzmq {v.get('libzmq')}), distributed {v.get('distributed')}, Python {v.get('python')}, "
        f"commit {v.get('git_commit')}. {doc['config']['engines']} engines/workers, "
        f"{doc['config']['reps']} alternating runs per system; figures are medians.",
        "",
        "| benchmark | metric | unit | ours | Python ipyparallel | Dask | ours/Python | ours/Dask |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for bench, metric, t in rows(doc):
        md = t["median"]
        o, p, d = md.get("ours"), md.get("python"), md.get("dask")
        lines.append(f"| {bench} | {metric} | {t['unit']} | {_fmt(o)} | {_fmt(p)} | {_fmt(d)} | "
                     f"{_ratio(o, p)} | {_ratio(o, d)} |")
    lines += thread_tables(doc)
    curves = doc.get("extra", {}).get("memory_curves", {})
    if curves:
        lines += ["", "Controller VmRSS (MiB) by tasks completed:", ""]
        for sys_, pts in curves.items():
            lines.append(f"- {sys_}: " + ", ".join(f"{int(n):,}: {r:.1f}" for n, r in pts))
    if doc.get("notes"):
        lines += ["", "Notes:", ""] + [f"- {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"


SYSTEMS = {"ours": "ours", "python": "Python ipyparallel", "dask": "Dask"}


def thread_profile(runs: list[dict], min_share: float = 0.01):
    """One system's thread groups from its runs: ``(rows, total)``, rows ``(name, µs per task,
    wake-ups per task)`` largest first, each figure the median over the runs (a group missing from
    a run counts 0); groups under min_share of the total CPU are summed in one "other threads"
    row at the end. total is ``(µs, wake-ups)`` per task over all groups."""
    import statistics

    names = {k for run in runs for k in run}
    med = {k: tuple(statistics.median(run.get(k, {}).get(f, 0.0) for run in runs)
                    for f in ("us_per_task", "wakeups_per_task")) for k in names}
    total = (sum(us for us, _ in med.values()), sum(w for _, w in med.values()))
    rows, rest = [], [0.0, 0.0]
    for name, (us, w) in sorted(med.items(), key=lambda kv: -kv[1][0]):
        if total[0] and us < min_share * total[0]:
            rest[0] += us
            rest[1] += w
        else:
            rows.append((name, us, w))
    if any(rest):
        rows.append(("other threads", rest[0], rest[1]))
    return rows, total


def thread_tables(doc) -> list[str]:
    """Benchmark 3's profile: the cluster's CPU and wake-ups per task, thread by thread, for
    each load-balanced workload."""
    out = []
    for workload, by_system in doc.get("extra", {}).get("cluster_threads", {}).items():
        out += ["", f"Cluster CPU per task by thread, {workload} (medians of the runs; CPU time on "
                    "a CPU from /proc/<pid>/task/*/schedstat, wake-ups = voluntary context switches):",
                "", "| system | process / thread | µs per task | wake-ups per task |",
                "|---|---|---:|---:|"]
        for system in ("ours", "python", "dask"):
            if system not in by_system:
                continue
            rows, (us, w) = thread_profile(by_system[system])
            out += [f"| {SYSTEMS[system]} | {name} | {_fmt(float(u))} | {_fmt(float(k))} |"
                    for name, u, k in rows]
            out.append(f"| {SYSTEMS[system]} | **all threads** | **{_fmt(float(us))}** | "
                       f"**{_fmt(float(w))}** |")
    return out


LABELS = {"floor": "floor (routing and signature checks only)"}


def plots(doc, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"ours": "#1f77b4", "python": "#ff7f0e", "dask": "#2ca02c", "floor": "#7f7f7f"}
    groups = [
        ("latency.png", "Direct round trip of a no-op (median, ms; lower is better)",
         lambda b, m: b.startswith("1 ") and m == "median latency"),
        ("throughput.png", "Load-balanced no-op throughput, one client (tasks/s; higher is better)",
         lambda b, m: b.startswith("2 ") and m == "throughput"),
        ("cpu_per_task.png", "Cluster-side CPU per task (µs; lower is better)",
         lambda b, m: b.startswith("3 ") and m == "cluster CPU per task"),
        ("capacity.png", "Controller capacity with simulated peers (tasks/s; higher is better)",
         lambda b, m: b.startswith("5 capacity") and m in ("throughput", "tasks/s per controller CPU-second")),
        ("broadcast.png", "Push of 2 MB to all engines (median ms per push; lower is better)",
         lambda b, m: b.startswith("7 ") and m == "median time per push"),
    ]
    rs = rows(doc)
    for fname, title, pred in groups:
        sel = [(b, m, t) for b, m, t in rs if pred(b, m)]
        if not sel:
            continue
        systems = [s for s in ("ours", "python", "dask") if any(s in t["median"] for _, _, t in sel)]
        series = {s: [t["median"].get(s) or 0 for _, _, t in sel] for s in systems}
        if fname == "capacity.png":
            # bench/floor, the routing-only yardstick, as one more bar per metric
            floor = {m: t["median"].get("ours") for b, m, t in rs if b.startswith("5 floor")}
            if any(floor.get(m) for _, m, _ in sel):
                systems.append("floor")
                series["floor"] = [floor.get(m) or 0 for _, m, _ in sel]
        fig, ax = plt.subplots(figsize=(9, 4.5))
        width = 0.8 / max(1, len(systems))
        for i, s in enumerate(systems):
            xs = [k + i * width for k in range(len(sel))]
            ys = series[s]
            ax.bar(xs, ys, width, label=LABELS.get(s, s), color=colors[s])
            for x, y in zip(xs, ys):
                if y:
                    ax.annotate(_fmt(float(y)), (x, y), ha="center", va="bottom", fontsize=7)
        ax.set_xticks([k + width * (len(systems) - 1) / 2 for k in range(len(sel))])
        ax.set_xticklabels([(b[2:] + ("" if len(sel) < 2 or m in ("throughput", "median latency", "cluster CPU per task", "median time per push") else f"\n{m}")).replace(" (", "\n(")
                            for b, m, _ in sel], fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)

    thread_plot(doc, out, plt)

    curves = doc.get("extra", {}).get("memory_curves", {})
    if curves:
        fig, ax = plt.subplots(figsize=(7, 4))
        for s, pts in curves.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s, color=colors.get(s))
        ax.set_xlabel("tasks completed")
        ax.set_ylabel("controller VmRSS (MiB)")
        ax.set_title("Controller memory, default record store", fontsize=10)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "memory.png", dpi=110)
        plt.close(fig)


def thread_plot(doc, out: Path, plt, workload: str = "LB apply_async"):
    """cpu_by_thread.png: benchmark 3's profile for one workload, a stacked bar per system with
    one segment per row of thread_profile. Each bar has its own scale, so that the smallest
    system's profile stays readable; the titles give the totals."""
    by_system = doc.get("extra", {}).get("cluster_threads", {}).get(workload)
    if not by_system:
        return
    systems = [s for s in ("ours", "python", "dask") if s in by_system]
    fig, axes = plt.subplots(len(systems), 1, figsize=(10, 1.2 + 1.3 * len(systems)), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for ax, system in zip(axes[:, 0], systems):
        rows, (total, _) = thread_profile(by_system[system])
        left = 0.0
        for i, (name, w, _) in enumerate(rows):
            ax.barh(0, w, left=left, color=cmap(i % 20), edgecolor="white",
                    label=f"{name}: {_fmt(float(w))} µs")
            if w > 0.06 * total:
                ax.annotate(_fmt(float(w)), (left + w / 2, 0), ha="center", va="center", fontsize=7)
            left += w
        ax.set_xlim(0, (total or 1.0) * 1.02)
        ax.set_yticks([])
        ax.set_title(f"{SYSTEMS[system]}: {_fmt(float(total))} µs per task", fontsize=9, loc="left")
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes[-1, 0].set_xlabel(f"cluster CPU per task by thread, {workload} (µs; each bar to its own scale)")
    fig.tight_layout()
    fig.savefig(out / "cpu_by_thread.png", dpi=110)
    plt.close(fig)
