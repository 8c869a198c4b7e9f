"""Adaptive engines on SSH hosts of limited capacity, in the network-namespace lab.

The controller host (ippctrl) runs `ipcluster start --adapt --min=1 --max=6 --idle-timeout=3`
with `c.SSHEngineSetLauncher.engines = {'ippeng1': 2, 'ippeng2': 2}`: each host's count is its
capacity, so the cluster grows to 4 engines at most, spread over both hosts, starting them over
SSH as work arrives and shutting them down (their remote processes gone) when idle.

Asserted, with a Python client on the controller host: a burst grows the engines to 4 (never
more), on both hosts, every result right; idle, they shrink to 1 engine and 1 remote process;
a second burst grows them again, all right; the log says why; nothing is left on any host after
`ipcluster stop`. Needs root.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from adaptive_bursts import burst_line, bursts_script
from conftest import bin_dir, wait_for
from test_seed_topology import process_names, running_topology

PYTHON = "/usr/bin/python3"
PREFIX = f"ippadapt{os.getpid() % 10000}"
HOSTS = {
    "ippctrl": (1, "client"),  # ipcluster, the controller and the Python client
    "ippeng1": (2, "engine"),
    "ippeng2": (3, "engine"),
}
KNOWN = {"ippctrl": ["ippeng1", "ippeng2"]}



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from running_topology(Path(tmp_path_factory.mktemp("adapt")), "the adaptive SSH test",
                                ("ip", "unshare", "nsenter", "ssh-keygen"),
                                hosts=HOSTS, known=KNOWN, prefix=PREFIX)


def engine_processes(t, host: str) -> list[str]:
    return [n for n in process_names(t.pids_in(host) - {t.holder_pid(host)})
            if "ipengine" in n]


def test_adaptive_engines_grow_and_shrink_within_the_ssh_hosts_capacity(lab):
    t = lab
    ipcluster = str(bin_dir() / "ipcluster")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPYTHON", "IPP_"))}
    env["HOME"] = "/root"
    t.sh("ippctrl", f"{ipcluster} profile create adapt", env=env)
    profile = t.root / "ippctrl" / "root" / ".ipython" / "profile_adapt"
    with open(profile / "ipcluster_config.py", "a") as f:
        f.write("c.Cluster.engine_launcher_class = 'SSHEngineSetLauncher'\n")
        f.write("c.SSHEngineSetLauncher.engines = {'ippeng1': 2, 'ippeng2': 2}\n")
        f.write(f"c.SSHLauncher.remote_engine_cmd = [{str(bin_dir() / 'ipengine')!r}]\n")
    with open(profile / "ipcontroller_config.py", "a") as f:
        f.write("c.RegistrationFactory.ip = u'*'\n")
    log = t.root / "ipcluster-adapt.log"
    start = t.popen("ippctrl", [ipcluster, "start", "--profile=adapt", "--adapt", "--min=1",
                                "--max=6", "--idle-timeout=3"], log, env=env)
    client = None
    try:
        wait_for(lambda: "Engines appear to have started successfully" in log.read_text()
                 or start.poll() is not None, 120, 0.5, what="the first engine")
        assert start.poll() is None, log.read_text()
        assert sum(len(engine_processes(t, h)) for h in ("ippeng1", "ippeng2")) == 1, \
            log.read_text()

        script = t.root / "ippctrl" / "root" / "bursts.py"
        client_file = "/root/.ipython/profile_adapt/security/ipcontroller-client.json"
        script.write_text(bursts_script(client_file, (("first", 400), ("second", 300)),
                                        pause_dir="/root"))
        out_path = t.root / "client.out"
        client = t.popen("ippctrl", [PYTHON, "/root/bursts.py"], out_path, env=env)
        for burst in ("first", "second"):
            wait_for(lambda: burst_line(out_path.read_text(), burst) or client.poll() is not None,
                     240, 0.5, what=f"the {burst} burst")
            assert client.poll() is None, out_path.read_text() + log.read_text()
            res = burst_line(out_path.read_text(), burst)
            print(burst, res)
            assert res["ok"], res
            assert res["peak"] == 4, (res, log.read_text())
            assert res["hosts"] == ["ippeng1", "ippeng2"], res
            assert res["after_idle"] == 1, (res, log.read_text())
            # the retired engines' processes are gone from their hosts, one is left
            wait_for(lambda: sum(len(engine_processes(t, h)) for h in ("ippeng1", "ippeng2")) == 1,
                     30, 0.5, what="one engine process left on the hosts")
            (t.root / "ippctrl" / "root" / f"go-{burst}").touch()
        assert client.wait(timeout=60) == 0, out_path.read_text()

        text = log.read_text()
        assert "Adaptive: at most 4 engines (--max=6)" in text, text
        assert "Adaptive: starting 1 of the 4 engines" in text, text
        assert "Adaptive: grow 1 -> 4 engines" in text, text
        assert "Adaptive: shrink 4 -> 1 engines" in text, text
        assert "Engine retired" in text
        assert "ERROR" not in text and "Restarting" not in text, text

        stop = t.sh("ippctrl", f"{ipcluster} stop --profile=adapt", check=False, env=env)
        assert stop.returncode == 0, (stop.stdout, stop.stderr)
        assert start.wait(timeout=60) == 0, log.read_text()
    finally:
        for p in (client, start):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
    wait_for(lambda: not any(engine_processes(t, h) for h in HOSTS), 30, 0.5,
             what="no engine left on any host")

