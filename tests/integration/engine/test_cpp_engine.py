"""The C++ ipengine against Debian's Python controller and the unmodified Python client.

Run from the repository root (the conftest of tests/integration provides the cluster plumbing):

    IPP_BIN_DIR=build-engine/bin /usr/bin/python3 -m pytest tests/integration/engine -v

Every test uses real subprocesses in a temporary IPYTHONDIR, only 127.0.0.1, and the cluster is
torn down (processes and files) at the end of the module. The controller pings every 500 ms.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from ipp_testcluster import (Impl, TestCluster, cpp_binary, cpp_binary_available,  # noqa: E402
                             scaled, terminate_and_wait, wait_for)

import ipyparallel as ipp  # noqa: E402
from ipyparallel import error as ipp_error  # noqa: E402

# functions sent to engines must live in __main__ there (this module is not importable on them)
I = ipp.interactive

REPO = HERE.parents[2]
if not os.environ.get("IPP_BIN_DIR") and not cpp_binary_available("ipengine"):
    for candidate in ("build-engine/bin", "build/bin"):
        if (REPO / candidate / "ipengine").exists():
            os.environ["IPP_BIN_DIR"] = str(REPO / candidate)
            break

pytestmark = pytest.mark.skipif(
    not cpp_binary_available("ipengine"), reason=f"C++ ipengine not built ({cpp_binary('ipengine')})"
)

# Debian's Python controller by default; IPP_TEST_CONTROLLER=cpp runs the same checks against ours
CONTROLLER = os.environ.get("IPP_TEST_CONTROLLER") or "python"
CPP = Impl(CONTROLLER, "cpp")


def _start(impl: Impl, n: int, name: str) -> tuple[TestCluster, ipp.Client]:
    cluster = TestCluster(impl, name=name, ping_ms=500)
    try:
        rc = cluster.start(n, timeout=60)
    except Exception:
        logs = cluster.logs()
        cluster.stop(graceful=False)
        cluster.remove_files()
        pytest.fail(f"cluster did not start:\n{logs}", pytrace=False)
    return cluster, rc


def _stop(cluster: TestCluster):
    _notes, problems = cluster.stop()
    logs = cluster.logs() if problems else ""
    cluster.remove_files()
    assert not problems, f"{problems}\n{logs}"


@pytest.fixture(scope="module")
def cluster():
    c, _ = _start(CPP, 2, "cppengine")
    yield c
    _stop(c)


@pytest.fixture(scope="module")
def rc(cluster):
    return cluster.clients[0]


def engine_pid(rc, eid):
    return rc[eid].apply_sync(os.getpid)


def add_engine(cluster, rc, kind_impl=None):
    """Start one more C++ engine and return its id once registered."""
    before = set(rc.ids)
    cluster.start_engines(1)
    wait_for(lambda: set(rc.ids) - before, 60, interval=0.1, message="the new engine")
    (eid,) = set(rc.ids) - before
    return eid


# ------------------------------------------------------------------------------ basics
def test_engines_are_the_cpp_binary(cluster, rc):
    assert len(rc.ids) == 2
    for eid in rc.ids:
        proc = cluster.engine_proc_for_pid(engine_pid(rc, eid))
        assert proc.kind == "cpp"
        assert Path(proc.argv[0]).name == "ipengine"


def test_apply_sync(rc):
    @I
    def double(x):
        return 2 * x

    assert rc[:].apply_sync(double, 21) == [42, 42]
    assert rc[:].apply_sync(I(lambda *a, **k: (a, k)), 1, "two", three=3) == [((1, "two"), {"three": 3})] * 2


def test_execute_with_stdout(rc):
    ar = rc[:].execute("x = 6 * 7\nprint('value', x)", block=True)
    assert ar.stdout == ["value 42\n", "value 42\n"]
    assert rc[:].pull("x", block=True) == [42, 42]


def test_execute_result_and_display(rc):
    ar = rc[:].execute("from IPython.display import display\ndisplay('shown')\n1 + 1",
                       silent=False, block=True)
    for result in ar.execute_result:
        assert result["data"]["text/plain"] == "2"
    for outputs in ar.outputs:
        assert any(o["data"].get("text/plain") == "'shown'" for o in outputs)


def test_magic(rc):
    rc[:].execute("%env IPP_ENGINE_TEST_VAR=yes", block=True)
    assert rc[:].apply_sync(I(lambda: __import__("os").environ["IPP_ENGINE_TEST_VAR"])) == ["yes"] * 2


def test_push_pull_scatter_gather(rc):
    dv = rc[:]
    dv.push({"a": 5, "b": [1, 2, 3], "big": b"z" * 100_000}, block=True)
    assert dv.pull(("a", "b"), block=True) == [[5, [1, 2, 3]]] * 2
    assert dv.pull("big", block=True) == [b"z" * 100_000] * 2
    dv.scatter("part", list(range(17)), block=True)
    assert dv.gather("part", block=True) == list(range(17))
    dv["c"] = "dict-style"
    assert dv["c"] == ["dict-style"] * 2


def test_load_balanced_map_1000_squares(rc):
    lv = rc.load_balanced_view()
    result = lv.map_sync(I(lambda x: x * x), range(1000))
    assert result == [x * x for x in range(1000)]


def test_remote_error(rc):
    @I
    def boom():
        return 1 / 0

    eid = rc.ids[0]
    with pytest.raises(ipp_error.RemoteError) as info:
        rc[eid].apply_sync(boom)
    err = info.value
    assert err.ename == "ZeroDivisionError"
    assert "division by zero" in err.evalue
    assert err.engine_info["engine_id"] == eid
    assert err.engine_info["engine_uuid"] == rc._engines[eid]
    assert any("boom" in line for line in err.traceback.splitlines())


def test_remote_error_on_all_engines(rc):
    with pytest.raises(ipp_error.CompositeError) as info:
        rc[:].apply_sync(I(lambda: 1 / 0))
    assert len(info.value.elist) == 2


def test_require_and_depend(rc):
    @ipp.require("os")
    @I
    def uses_os():
        return os.getpid() > 0

    lv = rc.load_balanced_view()
    assert lv.apply_sync(uses_os) is True

    @ipp.require("a_module_that_does_not_exist_anywhere")
    @I
    def impossible():
        return 1

    eid = rc.ids[0]
    with pytest.raises(ipp_error.RemoteError) as info:
        rc[eid].apply_sync(impossible)
    assert info.value.ename == "UnmetDependency"
    # with explicit targets the scheduler gives up once every target refused (without targets
    # it keeps the task queued for engines that may come later, as in Python)
    with pytest.raises(ipp_error.RemoteError) as info:
        rc.load_balanced_view(targets=list(rc.ids)).apply_sync(impossible)
    assert info.value.ename == "ImpossibleDependency"

    @I
    def is_engine(target):
        return get_ipython().kernel.engine_id == target  # noqa: F821

    target = rc.ids[1]

    @ipp.depend(is_engine, target)
    @I
    def where():
        return get_ipython().kernel.engine_id  # noqa: F821

    assert lv.apply_sync(where) == target


def test_streaming_output(rc):
    @I
    def talk():
        import time

        print("first", flush=False)
        time.sleep(2)
        print("second")
        return "done"

    eid = rc.ids[0]
    ar = rc[eid].apply_async(talk)
    t0 = time.monotonic()
    wait_for(lambda: "first" in (ar.stdout or ""), 1.8, interval=0.02, message="first line")
    assert not ar.ready(), "the first line must arrive while the task still runs"
    assert time.monotonic() - t0 < 1.9
    assert ar.get(timeout=10) == "done"
    ar.wait_for_output(timeout=5)
    assert ar.stdout == "first\nsecond\n"


def test_interrupt_running_task(rc):
    eid = rc.ids[0]
    ar = rc[eid].apply_async(time.sleep, 60)
    time.sleep(1)
    assert not ar.ready()
    t0 = time.monotonic()
    rc.send_signal(signal.SIGINT, targets=[eid], block=True)
    with pytest.raises(ipp_error.RemoteError) as info:
        ar.get(timeout=10)
    assert info.value.ename == "KeyboardInterrupt"
    assert time.monotonic() - t0 < 5
    # the engine is fine afterwards, and an idle SIGINT is ignored
    rc.send_signal("SIGINT", targets=[eid], block=True)
    time.sleep(0.3)
    assert rc[eid].apply_sync(I(lambda: "still here")) == "still here"


def test_external_sigint_when_idle_is_ignored(cluster, rc):
    eid = rc.ids[1]
    pid = engine_pid(rc, eid)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert psutil.pid_exists(pid)
    assert rc[eid].apply_sync(I(lambda: 3)) == 3


def test_abort_queued_task(rc):
    eid = rc.ids[0]
    view = rc[eid]
    running = view.apply_async(time.sleep, 1.5)
    queued = view.apply_async(I(lambda: "should not run"))
    rc.abort(queued, targets=[eid], block=True)
    with pytest.raises(ipp_error.TaskAborted):
        queued.get(timeout=10)
    assert running.get(timeout=10) is None
    assert view.apply_sync(I(lambda: "after")) == "after"


def test_clear(rc):
    rc[:].push({"to_clear": 1}, block=True)
    rc[:].clear(block=True)
    assert rc[:].apply_sync(I(lambda: "to_clear" in globals())) == [False, False]


def test_unpicklable_result(rc):
    import threading

    eid = rc.ids[0]
    with pytest.raises(ipp_error.RemoteError) as info:
        rc[eid].apply_sync(threading.Lock)
    assert "pickle" in str(info.value).lower()
    assert rc[eid].apply_sync(I(lambda: "ok")) == "ok"


def test_task_replacing_stdout(rc):
    @I
    def hijack():
        import io
        import sys

        sys.stdout = io.StringIO()
        print("swallowed")
        return "hijacked"

    eid = rc.ids[0]
    ar = rc[eid].apply_async(hijack)
    assert ar.get(timeout=10) == "hijacked"
    ar.wait_for_output(timeout=5)
    assert "replaced sys.stdout" in ar.stderr
    ar = rc[eid].apply_async(print, "visible again")
    ar.get(timeout=10)
    ar.wait_for_output(timeout=5)
    assert ar.stdout == "visible again\n"


def test_sys_exit_is_a_task_error(rc):
    import sys as _sys

    eid = rc.ids[0]
    with pytest.raises(ipp_error.RemoteError) as info:
        rc[eid].apply_sync(_sys.exit, 3)
    assert info.value.ename == "SystemExit"
    with pytest.raises(ipp_error.RemoteError) as info:
        rc[eid].execute("import sys; sys.exit(1)", block=True)
    assert info.value.ename == "SystemExit"
    assert rc[eid].apply_sync(I(lambda: "alive")) == "alive"


@pytest.mark.slow
def test_long_task_keeps_registration(rc):
    # 20 s of busy Python with a 500 ms ping: the heart thread keeps answering
    @I
    def spin(seconds):
        import time

        end = time.time() + seconds
        n = 0
        while time.time() < end:
            n += 1
        return n

    ids = list(rc.ids)
    eid = ids[0]
    ar = rc[eid].apply_async(spin, 20)
    assert ar.get(timeout=60) > 0
    assert rc.ids == ids
    assert rc.queue_status(targets=eid, verbose=False)["completed"] >= 0


# ------------------------------------------------------------------- engines that go away
def _exit_status(cluster, eid_pid):
    proc = cluster.engine_proc_for_pid(eid_pid)
    proc.popen.wait(timeout=scaled(20))
    return proc.popen.returncode


def test_shutdown_one_engine(cluster, rc):
    eid = add_engine(cluster, rc)
    pid = engine_pid(rc, eid)
    rc.shutdown(targets=[eid], block=True)
    assert _exit_status(cluster, pid) == 0
    wait_for(lambda: eid not in rc.ids, 10, message="unregistration after shutdown")
    assert len(rc[:].apply_sync(I(lambda: 1))) == 2


def test_sigterm_stops_and_unregisters(cluster, rc):
    eid = add_engine(cluster, rc)
    pid = engine_pid(rc, eid)
    os.kill(pid, signal.SIGTERM)
    assert _exit_status(cluster, pid) == 0
    # the engine's own unregistration_request: well before heartbeat loss (~5.5 s) would tell
    t0 = time.monotonic()
    wait_for(lambda: eid not in rc.ids, 4, message="unregistration after SIGTERM")
    assert time.monotonic() - t0 < 4


def test_segfault_is_an_engine_death(cluster, rc):
    eid = add_engine(cluster, rc)
    pid = engine_pid(rc, eid)

    @I
    def crash():
        import ctypes

        return ctypes.string_at(0)

    ar = rc[eid].apply_async(crash)
    t0 = time.monotonic()
    with pytest.raises(ipp_error.RemoteError) as info:
        ar.get(timeout=30)
    # no nanny: the controller notices through the heartbeat (~11 periods of 500 ms)
    assert info.value.ename == "EngineError"
    assert time.monotonic() - t0 < 15
    assert _exit_status(cluster, pid) != 0
    wait_for(lambda: eid not in rc.ids, 20, message="unregistration after the crash")
    # the others go on
    assert len(rc[:].apply_sync(I(lambda: 1))) == 2


# --------------------------------------------------------------------------- mixed cluster
def test_mixed_cluster_with_python_engines():
    c, rc = _start(Impl(CONTROLLER, "mixed"), 4, "mixed")
    try:
        kinds = sorted(c.engine_proc_for_pid(p).kind for p in rc[:].apply_sync(os.getpid))
        assert kinds == ["cpp", "cpp", "python", "python"]
        assert rc[:].apply_sync(I(lambda x: x + 1), 1) == [2] * 4
        lv = rc.load_balanced_view()
        assert lv.map_sync(I(lambda x: x * 3), range(100)) == [x * 3 for x in range(100)]
        rc[:].scatter("v", list(range(8)), block=True)
        assert rc[:].gather("v", block=True) == list(range(8))
        with pytest.raises(ipp_error.CompositeError):
            rc[:].apply_sync(I(lambda: 1 / 0))
    finally:
        _stop(c)


# ------------------------------------------------------------------ start-up and lifecycle
def _spawn_engine(cluster, extra_args=(), env_updates=None, role="engine-extra"):
    """Start a C++ engine with extra arguments/environment; it is cleaned up with the cluster."""
    saved = dict(cluster.env)
    if env_updates:
        cluster.env.update(env_updates)
    try:
        argv = cluster.engine_argv("cpp") + list(extra_args)
        proc = cluster._spawn(f"{role}-{len(cluster.engines)}", "cpp", argv)
    finally:
        cluster.env = saved
    cluster.engines.append(proc)
    return proc


def _new_id(rc, before, timeout=60):
    wait_for(lambda: set(rc.ids) - before, timeout, interval=0.1, message="the new engine")
    (eid,) = set(rc.ids) - before
    return eid


def test_startup_command_from_config_file(cluster, rc):
    config = cluster.profile_dir / "ipengine_config.py"
    config.write_text("c = get_config()\nc.IPEngine.startup_command = 'from_config = 6 * 7'\n")
    try:
        before = set(rc.ids)
        proc = _spawn_engine(cluster, ["-s", str(cluster.root / "missing_is_logged.py")])
        eid = _new_id(rc, before)
        wait_for(lambda: b"Completed registration" in proc.log_path.read_bytes(), 30)
        assert rc[eid].pull("from_config", block=True) == 42
        assert b"startup code failed" in proc.log_path.read_bytes()
    finally:
        config.unlink()
    rc.shutdown(targets=[eid], block=True)
    proc.popen.wait(timeout=scaled(20))


def test_connection_info_from_environment(cluster, rc):
    info = cluster.engine_file.read_text()
    before = set(rc.ids)
    proc = _spawn_engine(cluster, ["--file=/nonexistent/ipcontroller-engine.json", "--IPEngine.id=42"],
                         env_updates={"IPP_CONNECTION_INFO": info})
    eid = _new_id(rc, before)
    assert eid == 42  # the requested id
    assert rc[eid].apply_sync(I(lambda: "from env")) == "from env"
    rc.shutdown(targets=[eid], block=True)
    assert proc.popen.wait(timeout=scaled(20)) == 0


def test_missing_connection_file_exits_1():
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="ipp-engine-test-missing-"))
    try:
        p = subprocess.run(
            [str(cpp_binary("ipengine")), "--file=/nonexistent/x-engine.json",
             "--IPEngine.wait_for_url_file=0.3", f"--profile-dir={root}"],
            capture_output=True, timeout=scaled(30), env={k: v for k, v in os.environ.items()
                                                          if not k.startswith("IPP_")})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert p.returncode == 1
    assert b"connection file never arrived" in p.stderr


def test_pylab_inline_sends_png(rc):
    # %pylab inline needs no GUI loop; the figure comes back as display_data with a PNG
    view = rc[rc.ids[-1]]
    view.execute("%pylab inline", block=True)
    ar = view.execute("plot(rand(100))", silent=False)
    ar.get(scaled(30))
    assert ar.wait_for_output(scaled(5))
    assert any("image/png" in o.get("data", {}) for o in ar.outputs)


def test_gui_event_loop_is_a_clear_error(rc):
    view = rc[rc.ids[-1]]
    with pytest.raises(ipp_error.RemoteError) as info:
        view.execute("get_ipython().enable_gui('qt')", block=True)
    assert info.value.ename == "NotImplementedError"
    assert "'qt'" in info.value.evalue and "inline" in info.value.evalue


def test_registered_means_ready_even_with_a_short_timeout(cluster, rc, tmp_path):
    # The hub announces an engine on its first heartbeat answer; ours answers once its
    # interpreter can take requests ("Completed registration" is logged just before the heart
    # starts). The interpreter starts while the registration request is in flight: a reply that
    # arrived during that start counts even when --timeout passed meanwhile.
    before = set(rc.ids)
    log_path = tmp_path / "engine.log"
    with open(log_path, "wb") as log:
        p = subprocess.Popen([str(cpp_binary("ipengine")), f"--profile-dir={cluster.profile_dir}",
                              "--timeout=0.05"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: (set(rc.ids) - before) or p.poll() is not None, 60, interval=0.01,
                 message="the new engine")
        seen = log_path.read_text(errors="replace")
        assert p.poll() is None, seen
        assert "Completed registration with id" in seen
        (eid,) = set(rc.ids) - before
        assert rc[eid].apply_sync(I(lambda: 6 * 7)) == 42
    finally:
        terminate_and_wait(p, 15)
    assert p.returncode == 0


def test_requests_sent_at_registration_wait_for_the_shell(cluster, rc):
    # Without startup code the heart starts before the IPython shell is built and before the
    # rest of the ipyparallel package is imported. Requests sent the moment the engine is
    # announced wait in its socket and run in order once it is ready, with the full package.
    before = set(rc.ids)
    proc = _spawn_engine(cluster)
    eid = _new_id(rc, before)
    view = rc[eid]
    first = view.execute("order = ['execute']; shell = type(get_ipython()).__name__")
    second = view.apply_async(I(lambda: order.append("apply") or list(order)))
    third = view.apply_async(I(lambda: sorted(
        name for name in ("Client", "DirectView", "require", "Reference", "serialize")
        if hasattr(__import__("ipyparallel"), name))))
    first.get(timeout=scaled(30))
    assert second.get(timeout=scaled(30)) == ["execute", "apply"]
    assert third.get(timeout=scaled(30)) == ["Client", "DirectView", "Reference", "require",
                                              "serialize"]
    assert view.pull("shell", block=True) != "PlainShell"
    rc.shutdown(targets=[eid], block=True)
    assert proc.popen.wait(timeout=scaled(20)) == 0


def test_kernel_info_while_the_shell_is_built():
    # Our controller announces the engine about 50 ms after its heart starts, while the shell is
    # still being built: a kernel_info_request sent at once on the control channel is answered
    # when the shell is ready, with IPython's details, not with an empty reply.
    import json

    import zmq
    from rawwire import Signer, parse

    c, rc = _start(Impl("cpp", "cpp"), 0, "kernelinfo")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    try:
        info = json.loads((c.security_dir / "ipcontroller-client.json").read_text())
        signer = Signer(info["key"], info["signature_scheme"])
        sock.connect(f"tcp://127.0.0.1:{info['control']}")
        before = set(rc.ids)
        proc = _spawn_engine(c)
        eid = _new_id(rc, before, timeout=60)
        frames, hdr = signer.frames("kernel_info_request", {},
                                    idents=[rc._engines[eid].encode()])
        sock.send_multipart(frames)
        assert sock.poll(int(scaled(30) * 1000), zmq.POLLIN), "no kernel_info_reply"
        _ids, msg = parse(sock.recv_multipart())
        assert msg["header"]["msg_type"] == "kernel_info_reply"
        assert msg["parent_header"]["msg_id"] == hdr["msg_id"]
        content = msg["content"]
        assert content["status"] == "ok"
        assert content["implementation"] == "ipython"
        assert "IPython" in content["banner"]
        assert content["language_info"]["name"] == "python"
        assert rc[eid].apply_sync(I(lambda: 6 * 7)) == 42
        assert proc.popen.poll() is None
    finally:
        sock.close()
        ctx.term()
        _stop(c)


def test_startup_code_runs_before_registration(cluster, rc, tmp_path):
    # As Python's engine: with exec_lines the heart starts only after they ran, so an engine a
    # client sees has run its startup code.
    marker = tmp_path / "startup-done"
    code = (f"import time, pathlib; time.sleep(0.5); "
            f"pathlib.Path({str(marker)!r}).write_text('done'); startup_value = 7")
    before = set(rc.ids)
    proc = _spawn_engine(cluster, [f"--c={code}"])
    wait_for(lambda: set(rc.ids) - before, 60, interval=0.01, message="the new engine")
    assert marker.exists(), "the engine was announced before its startup code ran"
    (eid,) = set(rc.ids) - before
    assert rc[eid].pull("startup_value", block=True) == 7
    rc.shutdown(targets=[eid], block=True)
    assert proc.popen.wait(timeout=scaled(20)) == 0


def test_registration_timeout_exits_255(tmp_path):
    # a registration port nobody answers on
    import json
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    info = {"ssh": "", "interface": "tcp://127.0.0.1", "registration": port, "control": port,
            "mux": port, "task": port, "iopub": port, "hb_ping": port, "hb_pong": port,
            "broadcast": [port], "key": "k", "location": "127.0.0.1", "pack": "json",
            "unpack": "json", "signature_scheme": "hmac-sha256"}
    f = tmp_path / "engine.json"
    f.write_text(json.dumps(info))
    (tmp_path / "profile").mkdir()
    t0 = time.monotonic()
    p = subprocess.run([str(cpp_binary("ipengine")), f"--file={f}", "--timeout=1",
                        f"--profile-dir={tmp_path}/profile"],
                       capture_output=True, timeout=scaled(30),
                       env={k: v for k, v in os.environ.items() if not k.startswith("IPP_")})
    assert p.returncode == 255
    assert b"Registration timed out after 1.0 seconds" in p.stderr
    assert time.monotonic() - t0 < 10


@pytest.mark.slow
def test_engine_exits_when_heartbeats_stop():
    c = TestCluster(CPP, name="hbloss", ping_ms=500)
    try:
        c.start_controller()
        rc = c.connect()
        proc = _spawn_engine(c, ["--IPEngine.max_heartbeat_misses=4"])
        wait_for(lambda: rc.ids, 60, interval=0.1, message="engine registration")
        # the whole controller process group: its heart monitor is a separate process
        os.killpg(c.controller.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            status = proc.popen.wait(timeout=scaled(30))
            elapsed = time.monotonic() - t0
        finally:
            os.killpg(c.controller.pid, signal.SIGCONT)
        assert status == 0
        assert 3 < elapsed < 15  # 4 checks of 1 s (ping + 500 ms)
        assert b"Maximum number of heartbeats misses reached" in proc.log_path.read_bytes()
    finally:
        _notes, problems = c.stop()
        c.remove_files()


def test_builtin_bridge_copy(cluster, rc):
    # the copy of ipp_engine_bridge.py compiled into the binary (what an installed engine uses)
    before = set(rc.ids)
    proc = _spawn_engine(cluster, env_updates={"IPP_ENGINE_BRIDGE_DIR": ":builtin:"})
    eid = _new_id(rc, before)
    where = rc[eid].apply_sync(I(lambda: __import__("ipp_engine_bridge").__file__))
    assert where == "<ipengine>/ipp_engine_bridge.py"
    assert rc[eid].execute("print('builtin ok')", block=True).stdout == "builtin ok\n"
    rc.shutdown(targets=[eid], block=True)
    assert proc.popen.wait(timeout=scaled(20)) == 0
