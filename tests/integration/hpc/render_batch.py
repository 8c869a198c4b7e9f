#!/usr/bin/python3
"""Render the batch script Python's own ipyparallel launcher writes, as a reference for tests.

Input: one JSON spec, as the first argument, or on stdin when there is no argument (or it is "-"):

  {"version": "9.1" | "7.1",             launcher source: tests/vendor/ipyparallel-9.1.0 or
                                         Debian's ipyparallel 7.1 (default "9.1")
   "kind": "engine" | "controller",      EngineSetLauncher or ControllerLauncher (default engine)
   "system": "slurm" | "pbs" | "sge" | "lsf" | "htcondor" | "batch",
   "n": 4,                               write_batch_script(n) (default 1; a controller is always
                                         written with n=1, as its start() does: other values are
                                         an error)
   "profile_dir": "...", "cluster_id": "...",
   "work_dir": "...",                    where the script is written (default: a temp dir,
                                         removed afterwards)
   "engine_set_id": "...",               engines only, optional
   "engine_cmd" / "controller_cmd": [...], "engine_args" / "controller_args": [...],
   "traits": {"queue": ..., "account": ..., "qos": ..., "timelimit": ..., "options": ...,
              "output_file": ..., "batch_template": ..., "batch_template_file": ...,
              "batch_file_name": ..., "namespace": {...}, "environment": {...}, ...}}

Every key of "traits" must be a trait of the chosen class (7.1 has no output_file or
environment: asking for one is an error, not silently ignored).

Output (stdout, JSON): {"script": the file's exact text, "args": launcher.args (the submit argv),
"batch_file": its path, "submit_shell": the shell string LSF's launcher runs (`bsub<"file"`),
else null, "class": the launcher class, "version": ipyparallel.__version__, "env":
launcher.get_env() (9.1; what start() adds to the submit command's environment), "output_file"
(9.1), "identifier"}. On failure: {"error": "..."} on stdout and exit status 1.

The launcher runs in a child interpreter (/usr/bin/python3) so the two ipyparallel versions
never meet in one process. Python ipyparallel 9.1.0 imports unmodified on Debian 12's Python 3.11
(pyzmq 24, traitlets 5.5, tornado 6.2, IPython 8.5): no stubs are needed. Note that 9.1's
default output_file is <profile_dir>/log/<identifier>.log and computing it creates
<profile_dir>/log; the identifier embeds the child's pid unless "identifier" is given in traits.

Library use: ``render(spec) -> dict`` does the same and raises RenderError on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PYTHON = "/usr/bin/python3"
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
VENDOR = {"9.1": REPO / "tests" / "vendor" / "ipyparallel-9.1.0", "7.1": None}
SYSTEMS = {"slurm": "Slurm", "pbs": "PBS", "sge": "SGE", "lsf": "LSF", "htcondor": "HTCondor",
           "batch": "Batch"}
KINDS = {"engine": "EngineSetLauncher", "controller": "ControllerLauncher"}


class RenderError(RuntimeError):
    pass


# The child: imports ipyparallel from sys.path as given, builds the launcher, writes the script.
CHILD = r'''
import json, os, shutil, sys, tempfile
spec = json.loads(sys.stdin.read())
vendor = spec.pop("_vendor")
if vendor:
    sys.path.insert(0, vendor)
import ipyparallel
from ipyparallel.cluster import launcher as L
if vendor and not os.path.abspath(ipyparallel.__file__).startswith(os.path.abspath(vendor)):
    raise SystemExit(f"expected ipyparallel from {vendor}, got {ipyparallel.__file__}")
cls = getattr(L, spec["_class"])
kind = spec["kind"]
kw = {}
for key in ("profile_dir", "cluster_id"):
    if spec.get(key) is not None:
        kw[key] = spec[key]
for key in (f"{kind}_cmd", f"{kind}_args"):
    if spec.get(key) is not None:
        kw[key] = list(spec[key])
if kind == "engine" and spec.get("engine_set_id") is not None:
    kw["engine_set_id"] = spec["engine_set_id"]
traits = dict(spec.get("traits") or {})
known = set(cls.class_trait_names())
unknown = sorted(k for k in list(kw) + list(traits) if k not in known)
if unknown:
    raise SystemExit(f"{cls.__name__} (ipyparallel {ipyparallel.__version__}) has no trait(s) "
                     + ", ".join(unknown))
# As under ipcluster: configurable traits arrive as config (c.<Class>.<trait>), the rest (and
# what the Cluster passes itself: profile_dir, cluster_id, commands) as constructor arguments.
from traitlets.config import Config
cfg = Config()
for k, v in traits.items():
    if cls.class_traits()[k].metadata.get("config"):
        cfg[cls.__name__][k] = v
    else:
        kw[k] = v
tmp = None
work_dir = spec.get("work_dir")
if not work_dir:
    tmp = work_dir = tempfile.mkdtemp(prefix="render-batch-")
try:
    launcher = cls(work_dir=work_dir, config=cfg, **kw)
    launcher.write_batch_script(int(spec.get("n", 1)))
    with open(launcher.batch_file) as f:
        script = f.read()
    args = list(launcher.args)
    out = {
        "script": script,
        "args": args,
        "batch_file": launcher.batch_file,
        "submit_shell": (args[0] + '<"' + args[1] + '"') if spec["system"] == "lsf" else None,
        "class": cls.__name__,
        "version": ipyparallel.__version__,
        "env": launcher.get_env() if hasattr(launcher, "get_env") else None,
        "output_file": getattr(launcher, "output_file", None),
        "identifier": getattr(launcher, "identifier", None),
    }
finally:
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
sys.stdout.write(json.dumps(out))
'''


def launcher_class(spec: dict) -> str:
    system = spec.get("system")
    kind = spec.get("kind", "engine")
    if system not in SYSTEMS:
        raise RenderError(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")
    if kind not in KINDS:
        raise RenderError(f"unknown kind {kind!r}; engine or controller")
    return SYSTEMS[system] + KINDS[kind]


def render(spec: dict) -> dict:
    spec = dict(spec)
    version = str(spec.get("version", "9.1"))
    if version not in VENDOR:
        raise RenderError(f"unknown version {version!r}; 9.1 or 7.1")
    spec.setdefault("kind", "engine")
    spec["_class"] = launcher_class(spec)
    if spec["kind"] == "controller" and int(spec.get("n", 1)) != 1:
        raise RenderError("a ControllerLauncher's start() always writes its script with n=1")
    vendor = VENDOR[version]
    if vendor is not None and not (vendor / "ipyparallel" / "__init__.py").exists():
        raise RenderError(f"vendored ipyparallel missing: {vendor}")
    spec["_vendor"] = str(vendor) if vendor else None
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep the vendored tree clean
    cp = subprocess.run([PYTHON, "-c", CHILD], input=json.dumps(spec), capture_output=True,
                        text=True, env=env, timeout=120, cwd=spec.get("work_dir") or None)
    if cp.returncode != 0:
        lines = cp.stderr.strip().splitlines()
        raise RenderError(f"ipyparallel {version} {spec['_class']} failed: "
                          + (lines[-1] if lines else f"exit {cp.returncode}")
                          + ("\n" + cp.stderr if len(lines) > 1 else ""))
    return json.loads(cp.stdout)


def main(argv: list[str]) -> int:
    text = argv[0] if argv and argv[0] != "-" else sys.stdin.read()
    try:
        out = render(json.loads(text))
    except (RenderError, ValueError) as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
