"""ipcluster's batch launchers through recording fakes of PBS, SGE, LSF and HTCondor
(tests/integration/hpc/fakes/): the scripts ours writes equal, byte for byte, those Python 9.1's
launchers render for the same settings (rendered by tests/integration/hpc/render_batch.py at test
time), the submit and delete command lines match Python's, and engines started by the fakes
register, run tasks and are deleted by `ipcluster stop`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import bin_dir, ipcluster_bin, processes_under, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hpc"))
import fake_batch  # noqa: E402
import render_batch  # noqa: E402

CLASSES = {"slurm": "Slurm", "pbs": "PBS", "sge": "SGE", "lsf": "LSF", "htcondor": "HTCondor"}
DIALECT = {"slurm": "pbs", "pbs": "pbs", "sge": "sge", "lsf": "lsf", "htcondor": "htcondor"}
FAKE_COMMANDS = {  # Slurm has a real test of its own; here it submits through the PBS fakes
    "slurm": 'submit_command = ["qsub"]; c.{cls}.delete_command = ["qdel"]; '
             'c.{cls}.status_command = ["qstat"]',
}
USER_TEMPLATE = ("#!/bin/sh\n# {cluster_id} in {profile_dir}\n# queue={queue} n={n} half={n//2} "
                 "mem={mem}\n{program_and_args}\n")
CONDOR_TEMPLATE = ("universe = vanilla\nexecutable = ipengine\narguments = \"{program_args}\"\n"
                   "# {cluster_id} {queue} half={n//2} mem={mem}\nqueue {n}\n")
CONFIGS = {
    "defaults": {},
    "queue_account": {"queue": "q1", "account": "acct", "qos": "normal", "timelimit": "10:00"},
    "user_template": {"queue": "q2", "batch_template": USER_TEMPLATE, "namespace": {"mem": "4G"}},
}


def engine_file(env, cid="hpc"):
    sec = env.profile_dir() / "security"
    sec.mkdir(parents=True, exist_ok=True)
    # `ipcluster engines` needs the controller's file; the held jobs never read it.
    (sec / f"ipcontroller-{cid}-engine.json").write_text(json.dumps({"key": "k"}))


def config_lines(cls: str, traits: dict) -> str:
    out = ""
    for k, v in traits.items():
        if k == "account" and not cls.startswith("Slurm"):
            continue
        if k in ("qos", "timelimit") and not cls.startswith("Slurm"):
            continue
        out += f"c.{cls}.{k} = {v!r}\n"
    return out


def python_traits(cls: str, traits: dict) -> dict:
    return {k: v for k, v in traits.items()
            if cls.startswith("Slurm") or k not in ("account", "qos", "timelimit")}


def submit_held(env, fb, system, kind, traits, n=4):
    """Run ipcluster until its job is submitted (held in the fake queue), then stop it."""
    cls = CLASSES[system] + ("EngineSetLauncher" if kind == "engine" else "ControllerLauncher")
    extra = config_lines(cls, traits)
    if system in FAKE_COMMANDS:
        extra += f"c.{cls}." + FAKE_COMMANDS[system].format(cls=cls) + "\n"
    env.write_config(extra=extra)
    run_env = dict(env.env, **{k: v for k, v in fb.env.items() if k.startswith("FAKE_") or k == "PATH"})
    run_env["FAKE_BATCH_HOLD"] = "1"
    run_env["FAKE_BATCH_SYSTEM"] = "sge" if DIALECT[system] == "sge" else "pbs"
    if kind == "engine":
        engine_file(env)
        argv = [ipcluster_bin(), "engines", f"--engines={system}", f"-n={n}", "--cluster-id=hpc"]
    else:
        argv = [ipcluster_bin(), "start", f"--controller={system}", "--engines=local", "-n=1",
                "--cluster-id=hpc"]
    p = subprocess.Popen(argv, env=run_env, stderr=subprocess.PIPE, text=True)
    cfile = env.profile_dir() / "security" / "cluster-hpc.json"

    def submitted():
        if p.poll() is not None:
            raise AssertionError(f"ipcluster exited {p.returncode}: {p.stderr.read()}")
        if not cfile.exists():
            return None
        d = json.loads(cfile.read_text())
        st = d["controller"]["state"] if kind == "controller" else \
            next(iter(d["engines"]["sets"].values()), None)
        return st if st and st.get("job_id") else None

    state = wait_for(submitted, timeout=60, what="the job in the cluster file")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    return state, err


@pytest.fixture
def fb(tmp_path):
    f = fake_batch.FakeBatch(tmp_path / "fakebatch")
    yield f
    f.kill_all()


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("system", sorted(CLASSES))
def test_engine_script_and_commands_match_python(env, fb, system, config):
    traits = dict(CONFIGS[config])
    if system == "htcondor" and "batch_template" in traits:
        traits["batch_template"] = CONDOR_TEMPLATE
    state, err = submit_held(env, fb, system, "engine", traits)
    (submit,) = [c for c in fb.calls() if c.get("job_id") is not None]
    expected = render_batch.render({
        "version": "9.1", "kind": "engine", "system": system, "n": 4,
        "profile_dir": str(env.profile_dir()), "cluster_id": "hpc",
        "engine_cmd": env_engine_cmd(env), "engine_args": [],
        "traits": dict(python_traits(CLASSES[system], traits), output_file=state["output_file"]),
    })
    assert submit["script"] == expected["script"], err
    # The default output file is Python's: log/ipengine-<cluster id>-<set id>-<ipcluster pid>.log
    assert re.fullmatch(re.escape(str(env.profile_dir() / "log")) + r"/ipengine-hpc-\d+-\d+\.log",
                        state["output_file"]), state["output_file"]
    script_path = env.profile_dir() / Path(expected["batch_file"]).name
    assert script_path.read_text() == expected["script"]
    assert oct(script_path.stat().st_mode & 0o777) == "0o700"
    if system == "lsf":
        assert submit["argv"] == ["bsub"] and submit["stdin"]  # bsub<"file", as Python
        assert expected["submit_shell"] == f'bsub<"{expected["batch_file"]}"'
    else:
        if system not in FAKE_COMMANDS:  # Slurm's own commands run in the real Slurm test
            assert Path(submit["argv"][0]).name == Path(expected["args"][0]).name
        assert submit["argv"][1:] == [str(script_path)]
    assert submit["env"]["IPP_PROFILE_DIR"] == str(env.profile_dir())
    assert submit["env"]["IPP_CLUSTER_ID"] == "hpc"
    # stop deletes the job with Python's delete command and the recorded id
    deletes = [c for c in fb.calls() if c["cmd"] in ("qdel", "bkill", "condor_rm")]
    assert [d["argv"][1:] for d in deletes] == [[state["job_id"]]], err
    assert state["job_id"] == str(submit["job_id"])


def env_engine_cmd(env):
    text = (env.profile_dir() / "ipcluster_config.py").read_text()
    return eval(re.search(r"c\.EngineLauncher\.engine_cmd = (.*)\n", text).group(1))


@pytest.mark.parametrize("system", sorted(CLASSES))
def test_controller_script_matches_python(env, fb, system):
    state, err = submit_held(env, fb, system, "controller", {"queue": "ctlq"})
    (submit,) = [c for c in fb.calls() if c.get("job_id") is not None]
    expected = render_batch.render({
        "version": "9.1", "kind": "controller", "system": system, "n": 1,
        "profile_dir": str(env.profile_dir()), "cluster_id": "hpc",
        "controller_cmd": [str(bin_dir() / "ipcontroller")], "controller_args": [],
        "traits": {"queue": "ctlq", "output_file": state["output_file"]},
    })
    assert submit["script"] == expected["script"], err
    assert "controller" in err and "Job submitted with job id" in err
    deletes = [c for c in fb.calls() if c["cmd"] in ("qdel", "bkill", "condor_rm")]
    assert [d["argv"][1:] for d in deletes] == [[state["job_id"]]], err


def test_template_file_and_job_array_lines(env, fb):
    tmpl = env.root / "engines.tmpl"
    tmpl.write_text("#!/bin/sh\n#PBS -t 1-{n}\n#PBS -N mine\n{program} --x={n*2} {program_args}\n")
    state, err = submit_held(env, fb, "pbs", "engine", {"batch_template_file": str(tmpl)}, n=3)
    (submit,) = [c for c in fb.calls() if c.get("job_id") is not None]
    expected = render_batch.render({
        "version": "9.1", "kind": "engine", "system": "pbs", "n": 3,
        "profile_dir": str(env.profile_dir()), "cluster_id": "hpc",
        "engine_cmd": env_engine_cmd(env), "engine_args": [],
        "traits": {"batch_template_file": str(tmpl), "output_file": state["output_file"]},
    })
    assert submit["script"] == expected["script"]
    assert "--x=6" in submit["script"]


RUN_TASKS = """
import ipyparallel as ipp, os
rc = ipp.Client(profile="default", timeout=30)
rc.wait_for_engines({n}, timeout=120)
print(sorted(rc.ids))
print(sorted(set(rc[:].apply_sync(lambda: __import__("os").environ.get("FAKE_BATCH_JOB_ID")))))
print(rc.load_balanced_view().map_sync(lambda x: x + 1, range(50)) == list(range(1, 51)))
rc.close()
"""

LSF_TEMPLATE = "#!/bin/sh\n#BSUB -J ipengine[1-{n}]\n#BSUB -env all\n{program_and_args}\n"


@pytest.mark.parametrize("system", ["pbs", "sge", "lsf", "htcondor"])
def test_engines_run_under_the_fakes_and_stop_deletes_them(env, fb, system):
    cls = CLASSES[system] + "EngineSetLauncher"
    extra = ""
    if system == "lsf":
        # Python's default LSF template repeats -J after the array line; the fake honours the
        # later one (one engine), so this run uses a template with the array only.
        extra = f"c.{cls}.batch_template = {LSF_TEMPLATE!r}\n"
    env.write_config(extra=extra)
    run_env = dict(env.env, **{k: v for k, v in fb.env.items() if k.startswith("FAKE_")})
    # HTCondor's template runs `ipengine` found on PATH on the execute node.
    engine_dir = str(Path(env_engine_cmd(env)[0]).parent) if "ipengine" in env_engine_cmd(env)[0] \
        else str(bin_dir())
    run_env["PATH"] = f"{fake_batch.FAKES}:{bin_dir()}:{engine_dir}:{env.env.get('PATH', '')}"
    run_env["FAKE_BATCH_SYSTEM"] = "sge" if system == "sge" else "pbs"
    env.env = run_env
    r = env.run("start", f"--engines={system}", "-n", "2", "--daemonize", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = env.python(RUN_TASKS.format(n=2), timeout=180)
    assert out.returncode == 0, out.stderr
    ids, jobs, mapped = out.stdout.splitlines()
    assert ids == "[0, 1]" and mapped == "True"
    (engset,) = json.loads((env.profile_dir() / "security" / "cluster-.json")
                           .read_text())["engines"]["sets"].values()
    assert jobs == f"['{engset['job_id']}']"
    env.run("stop", check_rc=0, timeout=120)
    deletes = [c for c in fb.calls() if c["cmd"] in ("qdel", "bkill", "condor_rm")]
    assert [d["argv"][-1] for d in deletes] == [engset["job_id"]]
    wait_for(lambda: not fb.alive_pids(engset["job_id"]), timeout=30, what="the job's tasks to end")


def test_rejected_and_missing_submit_commands(env, fb):
    env.write_config()
    run_env = dict(env.env, **{k: v for k, v in fb.env.items() if k.startswith("FAKE_") or k == "PATH"})
    run_env["FAKE_BATCH_REJECT"] = "qsub: Unknown queue MSG=requested queue not found"
    env.env = run_env
    r = env.run("start", "--engines=pbs", "-n", "2", timeout=120)
    assert r.returncode == 1
    assert "PBS rejected the engines job (qsub " in r.stderr
    assert "qsub: Unknown queue MSG=requested queue not found" in r.stderr
    env.write_config(extra='c.PBSEngineSetLauncher.submit_command = ["no-such-qsub"]\n')
    r = env.run("start", "--engines=pbs", "-n", "2", timeout=120)
    assert r.returncode == 1
    assert "PBS submit command 'no-such-qsub' could not be run" in r.stderr
    assert "c.PBSEngineSetLauncher.submit_command" in r.stderr


def test_engines_that_never_register_name_their_job_and_output(env, fb):
    # The job runs, but what it runs never registers: after the early-shutdown window ipcluster
    # says which job, in which state, and where its output is.
    env.write_config(extra="c.PBSEngineSetLauncher.engine_cmd = ['sleep', '300']\n"
                           "c.IPClusterEngines.early_shutdown = 3\n")
    run_env = dict(env.env, **{k: v for k, v in fb.env.items() if k.startswith("FAKE_") or k == "PATH"})
    err_file = env.root / "ipcluster.err"
    with open(err_file, "w") as err_out:
        p = subprocess.Popen([ipcluster_bin(), "start", "--engines=pbs", "-n", "2"], env=run_env,
                             stderr=err_out, text=True)
    try:
        warning = wait_for(lambda: next((l for l in err_file.read_text().splitlines()
                                         if "still waiting" in l), None),
                           timeout=60, what="the still-waiting warning")
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    (job,) = [str(c["job_id"]) for c in fb.calls("qsub") if c.get("job_id") is not None]
    assert "0/2 engines registered after 3 s; still waiting for the others" in warning
    assert f"job {job} R" in warning, warning
    assert re.search(r"output in \S+/log/ipengine-\d+-\d+\.log\)", warning), warning
    # and stop deleted the job
    assert [c["argv"] for c in fb.calls("qdel")] == [["qdel", job]]
