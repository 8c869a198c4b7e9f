#!/usr/bin/python3
"""Cluster start-up under a batch system and under MPI: `ipcluster start --engines=slurm -n N`
and `--engines=mpi -n N`, from the command to N engines registered as a client sees them, for
ours (our ipcluster, ipcontroller and ipengine) and Python's (Debian's ipyparallel 7.1).

    /usr/bin/python3 bench/hpc_start.py [--n 8] [--reps 3] [--launchers slurm,mpi]
                                        [--systems ours,python]

Runs as root: it starts a private single-node Slurm (tests/integration/hpc/slurm_harness.py)
for the Slurm rows. Systems alternate run by run; medians and every run are printed. Nothing is
asserted: these are measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration" / "hpc"))
import slurm_harness  # noqa: E402

PY = "/usr/bin/python3"
WAIT = """
import sys, time, ipyparallel as ipp
from pathlib import Path
f = Path(sys.argv[1]); n = int(sys.argv[2])
while not f.exists():
    time.sleep(0.02)
time.sleep(0.05)
rc = ipp.Client(str(f), timeout=60)
rc.wait_for_engines(n, timeout=300)
print(time.monotonic())
rc.close()
"""


def bin_dir() -> Path:
    for d in (os.environ.get("IPP_BIN_DIR"), REPO / "build-bench" / "bin", REPO / "build" / "bin"):
        if d and (Path(d) / "ipcluster").exists():
            return Path(d)
    sys.exit("no built ipcluster (set IPP_BIN_DIR)")


def one_run(system: str, launcher: str, n: int, env: dict) -> float:
    root = Path(tempfile.mkdtemp(prefix="ipp-hpc-bench-"))
    try:
        env = dict(env, IPYTHONDIR=str(root))
        prof = root / "profile_default"
        prof.mkdir()
        conf = "c = get_config()\nc.MPILauncher.mpi_args = ['--oversubscribe']\n"
        if system == "python":
            conf += f"c.EngineLauncher.engine_cmd = ['{PY}', '-m', 'ipyparallel.engine']\n"
        (prof / "ipcluster_config.py").write_text(conf)
        ipcluster = [str(bin_dir() / "ipcluster")] if system == "ours" else ["/usr/bin/ipcluster"]
        client_file = prof / "security" / "ipcontroller-client.json"
        t0 = time.monotonic()
        start = subprocess.Popen(ipcluster + ["start", f"--engines={launcher}", f"-n={n}",
                                              "--daemonize"], env=env, cwd=root,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waiter = subprocess.run([PY, "-c", WAIT, str(client_file), str(n)], env=env,
                                capture_output=True, text=True, timeout=600)
        start.wait(timeout=120)
        if waiter.returncode != 0:
            raise RuntimeError(f"{system} {launcher}: {waiter.stderr[-2000:]}")
        took = float(waiter.stdout.strip().splitlines()[-1]) - t0
        subprocess.run(ipcluster + ["stop"], env=env, cwd=root, capture_output=True, timeout=180)
        return took
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--launchers", default="slurm,mpi")
    ap.add_argument("--systems", default="ours,python")
    ap.add_argument("--json", help="also write every run here")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    slurm = None
    results: dict[str, dict[str, list[float]]] = {}
    try:
        for launcher in a.launchers.split(","):
            if launcher == "slurm":
                reason = slurm_harness.available()
                if reason:
                    sys.exit(reason)
                slurm = slurm_harness.LocalSlurm(cpus=max(8, a.n))
                slurm.start()
                env.update({k: v for k, v in slurm.env.items() if k.startswith(("SLURM", "IPP_SLURM"))})
            for rep in range(a.reps):
                for system in a.systems.split(","):
                    t = one_run(system, launcher, a.n, env)
                    results.setdefault(launcher, {}).setdefault(system, []).append(t)
                    print(f"{launcher:6} {system:7} run {rep + 1}: {t:.2f} s", flush=True)
            if slurm is not None:
                slurm.stop()
                slurm = None
    finally:
        if slurm is not None:
            slurm.stop()
    print(f"\nstart -> {a.n} engines registered (median of {a.reps}):")
    for launcher, by_system in results.items():
        med = {s: statistics.median(v) for s, v in by_system.items()}
        ratio = (f"  python/ours {med['python'] / med['ours']:.2f}x"
                 if "ours" in med and "python" in med else "")
        print(f"  {launcher:6} " + "  ".join(f"{s} {m:.2f} s" for s, m in med.items()) + ratio)
    if a.json:
        Path(a.json).write_text(json.dumps({"n": a.n, "runs": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
