"""The seed walkthrough on four simulated hosts: a controller host, two engine hosts reached over
real SSH, and a client host.

Each host is a network namespace (veth pair to a bridge in a namespace of its own, addresses in
10.231.0.0/24 that exist only inside these namespaces), plus a UTS namespace with its own host
name and a mount namespace in which /root is a per-host temporary directory and /etc/hosts names
the four hosts. A long-lived holder process keeps each host's namespaces; commands run inside
with nsenter. Engine hosts and the controller host run Debian's sshd on their own address.

The profile is written with the seed's lines exactly; `ipcluster start --profile=myprofile`
runs on the controller host, the client host fetches ipcontroller-client.json with scp and runs
the seed's Python 3 check. Everything is torn down at the end, on failure too.

Needs root, iproute2, util-linux (unshare, nsenter), openssh-server and openssh-client.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from conftest import bin_dir, wait_for

NET = "10.231.0"
PREFIX = f"ippseed{os.getpid() % 10000}"
HOSTS = {  # name -> (last octet, role)
    "ippctrl": (1, "controller"),
    "ippeng1": (2, "engine"),
    "ippeng2": (3, "engine"),
    "ippclient": (4, "client"),
}
PYTHON = "/usr/bin/python3"

SEED_CHECK = textwrap.dedent(
    """
    from ipyparallel import Client
    import time
    rc = Client("/root/ipcontroller-client.json")
    deadline = time.time() + 60
    while len(rc.ids) < 6 and time.time() < deadline:
        time.sleep(0.2)
    print("ids", rc.ids)
    assert rc.ids == [0, 1, 2, 3, 4, 5], rc.ids

    dview = rc[:]

    @dview.remote(block=True)
    def gethostname():
        import socket
        return socket.gethostname()

    names = gethostname()
    print("hostnames", names)
    assert sorted(names) == ["ippeng1"] * 3 + ["ippeng2"] * 3, names

    lview = rc.load_balanced_view()
    ar = lview.map_async(lambda x: x * x, range(10000))
    print("progress", ar.progress)
    assert 0 <= ar.progress <= 10000
    ar.wait(300)
    assert ar.ready()
    result = ar.result()
    assert result == [x * x for x in range(10000)]
    print("progress", ar.progress, "ready", ar.ready())
    print("SEED-OK")
    """
)


def run(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


SEED_KNOWN_HOSTS = {"ippctrl": ["ippeng1", "ippeng2"], "ippclient": ["ippctrl"]}


class Topology:
    """Simulated hosts. `hosts`: name -> (last address octet, role); hosts with the role
    "engine" or "controller" run sshd. `known`: host -> the hosts whose keys its
    ~/.ssh/known_hosts lists. `prefix` names the namespaces."""

    def __init__(self, root: Path, hosts=None, known=None, prefix: str = PREFIX):
        self.root = root
        self.hosts = hosts or HOSTS
        self.known = known if known is not None else SEED_KNOWN_HOSTS
        self.prefix = prefix
        self.holders: dict[str, subprocess.Popen] = {}
        self.daemons: list[subprocess.Popen] = []
        self.namespaces: list[str] = []
        self.made_run_sshd = False

    # -- namespaces --------------------------------------------------------------------------
    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def up(self):
        br = f"{self.prefix}-br"
        run("ip", "netns", "add", br)
        self.namespaces.append(br)
        run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", br, "link", "set", "br0", "up")
        run("ip", "-n", br, "link", "set", "lo", "up")
        hosts_file = self.root / "hosts"
        hosts_file.write_text(
            "127.0.0.1 localhost\n"
            + "".join(f"{NET}.{octet} {name}\n" for name, (octet, _) in self.hosts.items())
        )
        if not Path("/run/sshd").exists():
            Path("/run/sshd").mkdir(mode=0o755)
            self.made_run_sshd = True
        for i, (name, (octet, role)) in enumerate(self.hosts.items()):
            ns = self.ns(name)
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "-n", br, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            run("ip", "-n", br, "link", "set", f"v{i}", "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{NET}.{octet}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            home = self.root / name / "root"
            (home / ".ssh").mkdir(parents=True, mode=0o700)
            os.chmod(home, 0o700)
            # The holder: own UTS + mount namespaces inside the netns; /root and /etc/hosts
            # replaced by bind mounts that exist only there.
            script = (
                f"hostname {name} && mount --bind {home} /root && "
                f"mount --bind {hosts_file} /etc/hosts && touch {self.root / name / 'ready'} && "
                "exec sleep infinity"
            )
            self.holders[name] = subprocess.Popen(
                ["ip", "netns", "exec", ns, "unshare", "--uts", "--mount",
                 "--propagation", "private", "sh", "-c", script])
        for name in self.hosts:
            wait_for(lambda: (self.root / name / "ready").exists(), 10, what=f"{name} holder")

    def holder_pid(self, host: str) -> int:
        # `ip netns exec` execs unshare, which execs sh, which execs sleep: same pid throughout.
        return self.holders[host].pid

    def nsenter(self, host: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder_pid(host)), "--net", "--uts", "--mount", "--"]

    def sh(self, host: str, command: str, check=True, timeout=120, env=None):
        return run(*self.nsenter(host), "sh", "-c", command, check=check, timeout=timeout,
                   env=env)

    def popen(self, host: str, argv: list[str], log: Path, env=None) -> subprocess.Popen:
        f = open(log, "w")
        p = subprocess.Popen(self.nsenter(host) + argv, stdout=f, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        self.daemons.append(p)
        return p

    # -- ssh -----------------------------------------------------------------------------------
    def setup_ssh(self):
        key = self.root / "id_ed25519"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "ipp-seed-test")
        pub = (self.root / "id_ed25519.pub").read_text()
        hostkeys = {}
        for name, (octet, role) in self.hosts.items():
            home = self.root / name / "root"
            shutil.copy(key, home / ".ssh" / "id_ed25519")
            os.chmod(home / ".ssh" / "id_ed25519", 0o600)
            shutil.copy(self.root / "id_ed25519.pub", home / ".ssh" / "id_ed25519.pub")
            if role in ("engine", "controller"):
                (home / ".ssh" / "authorized_keys").write_text(pub)
                os.chmod(home / ".ssh" / "authorized_keys", 0o600)
                hk = self.root / name / "ssh_host_ed25519_key"
                run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk))
                hostkeys[name] = (self.root / name / "ssh_host_ed25519_key.pub").read_text().split()
                cfg = self.root / name / "sshd_config"
                cfg.write_text(textwrap.dedent(f"""\
                    ListenAddress {NET}.{octet}
                    Port 22
                    HostKey {hk}
                    PidFile {self.root / name / 'sshd.pid'}
                    PermitRootLogin prohibit-password
                    PubkeyAuthentication yes
                    PasswordAuthentication no
                    KbdInteractiveAuthentication no
                    AuthorizedKeysFile .ssh/authorized_keys
                    UsePAM no
                    UseDNS no
                    StrictModes no
                    Subsystem sftp internal-sftp
                    """))
                self.popen(name, ["/usr/sbin/sshd", "-D", "-e", "-f", str(cfg)],
                           self.root / name / "sshd.log")
        # known_hosts as `known` says (host key checking stays on); in the seed the controller
        # host knows the engine hosts and the client host knows the controller host.
        for host, names in self.known.items():
            (self.root / host / "root" / ".ssh" / "known_hosts").write_text(
                "".join(f"{n} {hostkeys[n][0]} {hostkeys[n][1]}\n" for n in names))
        client = next(n for n, (_, role) in self.hosts.items() if role == "client")
        for name in hostkeys:
            probe = f"import socket; socket.create_connection(('{NET}.{self.hosts[name][0]}', 22), 1)"
            wait_for(lambda: run(*self.nsenter(client), PYTHON, "-c", probe,
                                 check=False).returncode == 0, 15, 0.2, what=f"sshd on {name}")

    # -- teardown ------------------------------------------------------------------------------
    def pids_in(self, host: str) -> set[int]:
        r = run("ip", "netns", "pids", self.ns(host), check=False)
        return {int(x) for x in r.stdout.split()}

    def down(self):
        for p in self.daemons:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
        for ns in self.namespaces:
            r = run("ip", "netns", "pids", ns, check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        for p in list(self.holders.values()) + self.daemons:
            try:
                p.wait(timeout=10)
            except Exception:
                pass
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        if self.made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def process_names(pids: set[int]) -> list[str]:
    """Command lines of the live processes among pids; processes already gone, and zombies
    (exited, waiting for their parent to reap them, with an empty command line), are left out."""
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2:].startswith("Z"):
                continue
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError):
            pass
    return out


def running_topology(root: Path, what: str, tools, **kw):
    """Generator for a fixture: checks the prerequisites, brings a Topology up with sshd on
    every host, yields it, and tears it down, checking no namespace of it is left."""
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root (network and mount namespaces)")
    for tool in tools:
        assert shutil.which(tool), f"{tool} is missing"
    assert Path("/usr/sbin/sshd").exists(), "openssh-server is missing"
    os.chmod(root, 0o755)
    t = Topology(root, **kw)
    try:
        t.up()
        t.setup_ssh()
        yield t
    finally:
        t.down()
    assert not any(ns.startswith(t.prefix) for ns in run("ip", "netns", "list").stdout.split())


@pytest.fixture
def topology(tmp_path_factory):
    yield from running_topology(Path(tmp_path_factory.mktemp("seed")), "the seed topology test",
                                ("ip", "unshare", "nsenter", "ssh-keygen", "scp"))


def test_seed_walkthrough(topology):
    t = topology
    ipcluster = str(bin_dir() / "ipcluster")
    # The seed: `ipython profile create --parallel --profile=myprofile`, then its three lines.
    t.sh("ippctrl", f"{ipcluster} profile create myprofile")
    profile = t.root / "ippctrl" / "root" / ".ipython" / "profile_myprofile"
    assert (profile / "ipcluster_config.py").exists()
    with open(profile / "ipcluster_config.py", "a") as f:
        f.write("c.IPClusterEngines.engine_launcher_class = 'SSHEngineSetLauncher'\n")
        f.write("c.SSHEngineSetLauncher.engines = {'ippeng1' : 3, 'ippeng2' : 3}\n")
        if os.environ.get("IPP_TEST_ENGINE") == "cpp":
            f.write(f"c.SSHLauncher.remote_engine_cmd = [{str(bin_dir() / 'ipengine')!r}]\n")
    with open(profile / "ipcontroller_config.py", "a") as f:
        f.write("c.IPControllerApp.reuse_files = True\n")
        f.write("c.RegistrationFactory.ip = u'*'\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPYTHON", "IPP_"))}
    env["HOME"] = "/root"
    log = t.root / "ipcluster-start.log"
    start = t.popen("ippctrl", [ipcluster, "start", "--profile=myprofile"], log, env=env)
    try:
        wait_for(lambda: "Engines appear to have started successfully" in log.read_text()
                 or start.poll() is not None, 180, 0.5, what="engines to start")
        text = log.read_text()
        assert start.poll() is None, text
        assert "6/6 engines registered" in text, text

        # The client host fetches the client file with scp and runs the seed's check.
        t.sh("ippclient", "scp -q -o BatchMode=yes "
                          "root@ippctrl:.ipython/profile_myprofile/security/ipcontroller-client.json "
                          "/root/", env=env)
        (t.root / "ippclient" / "root" / "seed_check.py").write_text(SEED_CHECK)
        r = t.sh("ippclient", f"cd /root && {PYTHON} seed_check.py", check=False, timeout=600,
                 env=env)
        assert r.returncode == 0 and "SEED-OK" in r.stdout, (r.stdout, r.stderr, log.read_text())

        # The engine file really was copied into each engine host's own home.
        for host in ("ippeng1", "ippeng2"):
            f = t.root / host / "root" / ".ipython/profile_myprofile/security/ipcontroller-engine.json"
            assert f.exists(), f
            assert oct(f.stat().st_mode & 0o777) == "0o600"
            assert oct(f.parent.stat().st_mode & 0o777) == "0o700"

        stop = t.sh("ippctrl", f"{ipcluster} stop --profile=myprofile", check=False, env=env)
        assert stop.returncode == 0, (stop.stdout, stop.stderr)
        assert start.wait(timeout=60) == 0, log.read_text()
    finally:
        if start.poll() is None:
            os.killpg(start.pid, signal.SIGTERM)

    holder_and_sshd = lambda host: {t.holder_pid(host)} | {
        p.pid for p in t.daemons if p.poll() is None}

    def leftovers():
        out = {}
        for host in HOSTS:
            pids = t.pids_in(host) - holder_and_sshd(host)
            names = [n for n in process_names(pids) if "sshd" not in n]
            if names:
                out[host] = names
        return out

    wait_for(lambda: not leftovers(), 30, 0.5, what="no processes left on any host")
    assert not (profile / "security" / "cluster-.json").exists()
