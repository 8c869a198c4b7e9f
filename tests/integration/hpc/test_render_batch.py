"""render_batch.py reproduces what ipyparallel 9.1 (vendored) and 7.1 (Debian) launchers write."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from render_batch import PYTHON, VENDOR, RenderError, render

HERE = Path(__file__).resolve().parent
SYSTEMS = ("slurm", "pbs", "sge", "lsf", "htcondor")
PROFILE = "/tmp/ipp-render-profile"  # 9.1 creates <profile>/log when computing output_file


@pytest.fixture(autouse=True, scope="module")
def _remove_profile_log():
    yield
    import shutil
    shutil.rmtree(PROFILE, ignore_errors=True)


def spec(version, system, kind="engine", n=None, **extra):
    s = {"version": version, "system": system, "kind": kind, "n": n or (4 if kind == "engine" else 1),
         "profile_dir": PROFILE, "cluster_id": "abc",
         "engine_cmd": ["ipengine"], "engine_args": ["--log-level=20"],
         "controller_cmd": ["ipcontroller"], "controller_args": ["--ip=*"]}
    s.update(extra)
    return s


def test_vendored_package_is_9_1_and_imports_cleanly():
    out = render(spec("9.1", "slurm", traits={"output_file": "/tmp/o.log"}))
    assert out["version"] == "9.1.0"
    assert render(spec("7.1", "slurm"))["version"].startswith("7.1")
    assert not list(VENDOR["9.1"].rglob("__pycache__")), "the vendored tree must stay clean"


# Full expected scripts for the defaults (n=4 engines, the controller with n=1), fixed output file.
OUT = "/tmp/o.log"
EXPECTED_91 = {
    ("slurm", "engine"): "#!/bin/sh\n#SBATCH --ntasks=4\n#SBATCH --output=/tmp/o.log\n#SBATCH --export=ALL\n"
                         "#SBATCH --job-name=ipengine-abc\nsrun ipengine --log-level=20\n",
    ("slurm", "controller"): "#!/bin/sh\n#SBATCH --output=/tmp/o.log\n#SBATCH --export=ALL\n"
                             "#SBATCH --job-name=ipcontroller-abc\n#SBATCH --ntasks=1\nipcontroller '--ip=*'\n",
    ("pbs", "engine"): "#!/bin/sh\n#PBS -t 1-4\n#PBS -j oe\n#PBS -o /tmp/o.log\n#PBS -V\n#PBS -N ipengine\n"
                       "ipengine --log-level=20\n",
    ("pbs", "controller"): "#!/bin/sh\n#PBS -t 1-1\n#PBS -j oe\n#PBS -o /tmp/o.log\n#PBS -V\n#PBS -N ipcontroller\n"
                           "ipcontroller '--ip=*'\n",
    # SGE inherits PBS's output_template: 9.1 writes #PBS lines into SGE scripts.
    ("sge", "engine"): "#$ -V\n#$ -t 1-4\n#PBS -j oe\n#PBS -o /tmp/o.log\n#$ -S /bin/sh\n#$ -N ipengine\n"
                       "ipengine --log-level=20\n",
    ("sge", "controller"): "#$ -V\n#$ -t 1-1\n#PBS -j oe\n#PBS -o /tmp/o.log\n#$ -S /bin/sh\n#$ -N ipcontroller\n"
                           "ipcontroller '--ip=*'\n",
    # The LSF templates are indented in the source; the inserted lines are not.
    ("lsf", "engine"): "#!/bin/sh\n#BSUB -J ipengine[1-4]\n#BSUB -o /tmp/o.log\n#BSUB -e /tmp/o.log\n\n"
                       "    #BSUB -J ipengine-abc\n    #BSUB -env all\n    ipengine --log-level=20\n    ",
    ("lsf", "controller"): "#!/bin/sh\n#BSUB -J ipengine[1-1]\n#BSUB -o /tmp/o.log\n#BSUB -e /tmp/o.log\n\n"
                           "    #BSUB -env all\n    #BSUB -J ipcontroller-abc\n    ipcontroller '--ip=*'\n    ",
    ("htcondor", "engine"): "\nuniverse        = vanilla\nexecutable      = ipengine\n"
                            "# by default we expect a shared file system\ntransfer_executable = False\n"
                            'arguments       = "--log-level=20"\n\nqueue 4',
    ("htcondor", "controller"): "\nuniverse        = vanilla\nexecutable      = ipcontroller\n"
                                "# by default we expect a shared file system\ntransfer_executable = False\n"
                                "arguments       = '--ip=*'\n\nqueue 1",
}
# 7.1: cluster arguments on the command line, no output file, no --export=ALL, other job names.
A71 = "--profile-dir /tmp/ipp-render-profile --cluster-id abc"
EXPECTED_71 = {
    ("slurm", "engine"): f"#!/bin/sh\n#SBATCH --ntasks=4\n#SBATCH --job-name=ipy-engine-abc\n"
                         f"srun ipengine {A71} --log-level=20\n",
    ("slurm", "controller"): f"#!/bin/sh\n#SBATCH --job-name=ipy-controller-abc\n#SBATCH --ntasks=1\n"
                             f"ipcontroller {A71} '--ip=*'\n",
    ("pbs", "engine"): f"#!/bin/sh\n#PBS -t 1-4\n#PBS -V\n#PBS -N ipengine\nipengine {A71} --log-level=20\n",
    ("sge", "engine"): f"#$ -V\n#$ -t 1-4\n#$ -S /bin/sh\n#$ -N ipengine\nipengine {A71} --log-level=20\n",
    ("lsf", "engine"): f"#!/bin/sh\n#BSUB -J ipengine[1-4]\n    #BSUB -oo ipengine.o.%%J\n    #BSUB -eo ipengine.e.%%J\n"
                       f"    ipengine {A71} --log-level=20\n    ",
    ("htcondor", "engine"): "\nuniverse        = vanilla\nexecutable      = ipengine\n"
                            "# by default we expect a shared file system\ntransfer_executable = False\n"
                            f'arguments       = "{A71} --log-level=20"\n\nqueue 4',
}
FILES = {"slurm": ("slurm_engine.sbatch", "slurm_controller.sbatch"), "pbs": ("pbs_engines", "pbs_controller"),
         "sge": ("sge_engines", "sge_controller"), "lsf": ("lsf_engines", "lsf_controller"),
         "htcondor": ("htcondor_engines", "htcondor_controller")}
SUBMIT = {"slurm": "sbatch", "pbs": "qsub", "sge": "qsub", "lsf": "bsub", "htcondor": "condor_submit"}


@pytest.mark.parametrize("kind", ["engine", "controller"])
@pytest.mark.parametrize("system", SYSTEMS)
def test_defaults_9_1(system, kind, tmp_path):
    out = render(spec("9.1", system, kind, work_dir=str(tmp_path), traits={"output_file": OUT}))
    assert out["script"] == EXPECTED_91[(system, kind)]
    batch_file = str(tmp_path / FILES[system][kind == "controller"])
    assert out["batch_file"] == batch_file
    assert out["args"] == [SUBMIT[system], batch_file]
    assert out["submit_shell"] == (f'bsub<"{batch_file}"' if system == "lsf" else None)
    assert Path(batch_file).read_text() == out["script"]
    assert os.stat(batch_file).st_mode & 0o777 == 0o700
    env = {"IPP_CLUSTER_ID": "abc", "IPP_PROFILE_DIR": PROFILE}
    if system == "lsf" and kind == "engine":
        env["LSB_STDOUT_DIRECT"] = "Y"
    assert out["env"] == env


@pytest.mark.parametrize("system,kind", sorted(EXPECTED_71))
def test_defaults_7_1(system, kind):
    out = render(spec("7.1", system, kind))
    assert out["script"] == EXPECTED_71[(system, kind)]
    assert out["args"][0] == SUBMIT[system] and out["env"] is None


def test_default_output_file_9_1_is_under_the_profile():
    out = render(spec("9.1", "slurm"))
    assert re.fullmatch(rf"{PROFILE}/log/ipengine-abc-\d+\.log", out["output_file"])
    assert f"#SBATCH --output={out['output_file']}\n" in out["script"]
    fixed = render(spec("9.1", "pbs", engine_set_id="es1", traits={"identifier": "ident"}))
    assert fixed["output_file"] == f"{PROFILE}/log/ident.log"
    assert "#PBS -o /tmp/ipp-render-profile/log/ident.log\n" in fixed["script"]


@pytest.mark.parametrize("version", ["9.1", "7.1"])
def test_slurm_queue_account_qos_timelimit(version):
    traits = {"queue": "debug", "account": "proj", "qos": "high", "timelimit": "1:30:00"}
    if version == "9.1":
        traits["output_file"] = OUT
    s = render(spec(version, "slurm", traits=traits))["script"]
    lines = s.splitlines()
    assert lines[0] == "#!/bin/sh" and lines[1] == "#SBATCH --ntasks=4"
    for line in ("#SBATCH --partition=debug", "#SBATCH --account=proj", "#SBATCH --qos=high",
                 "#SBATCH --time=1:30:00"):
        assert line in lines
    if version == "9.1":
        # queue and output first (the base class), then account, qos, time, after the first line
        assert lines[1:8] == ["#SBATCH --ntasks=4", "#SBATCH --account=proj", "#SBATCH --qos=high",
                              "#SBATCH --time=1:30:00", "#SBATCH --partition=debug",
                              "#SBATCH --output=/tmp/o.log", "#SBATCH --export=ALL"]
    else:
        assert lines[1:6] == ["#SBATCH --ntasks=4", "#SBATCH --time=1:30:00", "#SBATCH --qos=high",
                              "#SBATCH --account=proj", "#SBATCH --partition=debug"]


@pytest.mark.parametrize("version", ["9.1", "7.1"])
@pytest.mark.parametrize("system,line", [("pbs", "#PBS -q short"), ("sge", "#$ -q short"),
                                         ("lsf", "#BSUB -q short")])
def test_queue_other_systems(system, line, version):
    traits = {"queue": "short"}
    if version == "9.1":
        traits["output_file"] = OUT
    assert line in render(spec(version, system, traits=traits))["script"].splitlines()


TEMPLATE = """#!/bin/bash
#SBATCH --ntasks={n}
#SBATCH --partition={queue}
#SBATCH --cpus-per-task={cpus}
# half: {n//2} profile: {profile_dir} cluster: {cluster_id}
srun {program_and_args}
echo {program} / {program_args}
"""


@pytest.mark.parametrize("version", ["9.1", "7.1"])
def test_user_template_with_expressions(version):
    out = render(spec(version, "slurm", n=6, traits={"batch_template": TEMPLATE, "queue": "gpu",
                                                     "namespace": {"cpus": 2}}))
    args = "--log-level=20" if version == "9.1" else f"{A71} --log-level=20"
    # A user template is used as is: nothing is inserted (no output, no --export).
    assert out["script"] == ("#!/bin/bash\n#SBATCH --ntasks=6\n#SBATCH --partition=gpu\n#SBATCH --cpus-per-task=2\n"
                             f"# half: 3 profile: {PROFILE} cluster: abc\n"
                             f"srun ipengine {args}\necho ipengine / {args}\n")


def test_user_template_file_and_controller(tmp_path):
    tpl = tmp_path / "ctl.tpl"
    tpl.write_text("#!/bin/sh\n#PBS -N ctl-{cluster_id}\n#PBS -l walltime={walltime}\n{program_and_args}\n")
    out = render(spec("9.1", "pbs", "controller", traits={"batch_template_file": str(tpl),
                                                          "namespace": {"walltime": "01:00:00"}}))
    assert out["script"] == "#!/bin/sh\n#PBS -N ctl-abc\n#PBS -l walltime=01:00:00\nipcontroller '--ip=*'\n"


def test_environment_trait_9_1():
    out = render(spec("9.1", "htcondor", traits={"environment": {"OMP_NUM_THREADS": "1"}}))
    assert out["env"] == {"IPP_CLUSTER_ID": "abc", "IPP_PROFILE_DIR": PROFILE, "OMP_NUM_THREADS": "1"}
    tpl = render(spec("9.1", "batch", traits={"batch_template": "#!/bin/sh\n# {environment_json}\n",
                                              "environment": {"A": "1"}}))
    assert json.loads(tpl["script"].splitlines()[1][2:]) == {"IPP_CLUSTER_ID": "abc",
                                                             "IPP_PROFILE_DIR": PROFILE, "A": "1"}


def test_generic_batch_system():
    out = render(spec("9.1", "batch", traits={"batch_template": "#!/bin/sh\nrun {n} {program_and_args}\n",
                                              "submit_command": ["mysubmit", "--now"]}))
    assert out["script"] == "#!/bin/sh\nrun 4 ipengine --log-level=20\n"
    assert out["args"][:2] == ["mysubmit", "--now"] and out["args"][2].endswith("batch_script")
    # Without a template the generic launcher writes an empty script and has an empty command.
    bare = render(spec("9.1", "batch"))
    assert bare["script"] == "" and bare["args"][0] == ""


def test_errors_are_clear():
    with pytest.raises(RenderError, match="has no trait.*output_file"):
        render(spec("7.1", "pbs", traits={"output_file": OUT}))
    with pytest.raises(RenderError, match="unknown system"):
        render(spec("9.1", "torque"))
    with pytest.raises(RenderError, match="unknown version"):
        render(spec("8.0", "pbs"))
    with pytest.raises(RenderError, match="n=1"):
        render(spec("9.1", "pbs", "controller", n=4))


def test_cli_stdin_and_argv():
    s = json.dumps(spec("9.1", "slurm", traits={"output_file": OUT}))
    a = subprocess.run([PYTHON, str(HERE / "render_batch.py"), s], capture_output=True, text=True, timeout=60)
    b = subprocess.run([PYTHON, str(HERE / "render_batch.py")], input=s, capture_output=True, text=True, timeout=60)
    assert a.returncode == b.returncode == 0
    assert json.loads(a.stdout)["script"] == json.loads(b.stdout)["script"] == EXPECTED_91[("slurm", "engine")]
    bad = subprocess.run([PYTHON, str(HERE / "render_batch.py"), '{"system": "nope"}'], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "unknown system" in json.loads(bad.stdout)["error"]
