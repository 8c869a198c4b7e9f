"""Interrupting and aborting running work from the Python side, on a cluster our ipcluster
started with our engines: ``Cluster.from_file(...).signal_engines(SIGINT)`` (the launcher sends
the signal to each engine process) interrupts running tasks with KeyboardInterrupt and leaves the
engines usable; ``view.abort`` of a load-balanced task still waiting behind another makes it
TaskAborted while the running one finishes; ``client.send_signal`` does the same through the
controller."""

from __future__ import annotations

import json

from conftest import bin_dir, processes_under, wait_for

SCRIPT = """
import json, signal, sys, time
import ipyparallel as ipp
from ipyparallel import error

out = {}
cluster = ipp.Cluster.from_file(profile_dir=sys.argv[1], cluster_id="sig")
rc = cluster.connect_client_sync()
rc.wait_for_engines(2, timeout=60)
ids = sorted(rc.ids)

# signal_engines: SIGINT through the launcher to every engine process
running = rc[:].apply_async(time.sleep, 60)
time.sleep(1.0)
t0 = time.monotonic()
cluster.signal_engines_sync(signal.SIGINT)
names = []
for eid in ids:
    try:
        running.get(timeout=20)
        names.append("finished")
    except error.CompositeError as e:
        names = sorted({x[0] for x in e.elist})
        break
out["signal_engines"] = names
out["signal_engines_s"] = time.monotonic() - t0
out["after_signal"] = rc[:].apply_sync(lambda: 1)

# view.abort of a queued load-balanced task
view = rc.load_balanced_view(targets=[ids[0]])
first = view.apply_async(time.sleep, 1.5)
second = view.apply_async(lambda: "should not run")
view.abort(second)
try:
    second.get(timeout=20)
    out["aborted"] = "ran"
except error.TaskAborted:
    out["aborted"] = "TaskAborted"
except error.RemoteError as e:
    out["aborted"] = e.ename
out["first"] = repr(first.get(timeout=20))

# client.send_signal through the controller
running = rc[ids[1]].apply_async(time.sleep, 60)
time.sleep(1.0)
rc.send_signal(signal.SIGINT, targets=[ids[1]], block=True)
try:
    running.get(timeout=20)
    out["send_signal"] = "finished"
except error.RemoteError as e:
    out["send_signal"] = e.ename
out["after_send_signal"] = rc[ids[1]].apply_sync(lambda: 2)
print(json.dumps(out))
cluster.stop_cluster_sync()
"""


def test_signal_engines_abort_and_send_signal_on_our_engines(env):
    ours = str(bin_dir() / "ipengine")
    env.write_config(extra=f"c.EngineLauncher.engine_cmd = [{ours!r}]\n")
    r = env.run("start", "-n", "2", "--daemonize", "--cluster-id=sig", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    pdir = env.profile_dir()
    out = env.python(SCRIPT.replace("sys.argv[1]", repr(str(pdir))), timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["signal_engines"] == ["KeyboardInterrupt"], res
    assert res["after_signal"] == [1, 1]
    assert res["aborted"] == "TaskAborted", res
    assert res["first"] == "None"
    assert res["send_signal"] == "KeyboardInterrupt", res
    assert res["after_send_signal"] == 2
    wait_for(lambda: not processes_under(env.root), 60, what="all processes gone")
