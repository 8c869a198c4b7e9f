"""Unit tests of the engine's Python bridge (src/engine/python/ipp_engine_bridge.py).

Run with Debian's interpreter, the one the engine embeds:
    /usr/bin/python3 -m pytest tests/python_embed -q
The host (the C++ side in production) is a fake that records what the bridge hands over.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src" / "engine" / "python"))

import ipp_engine_bridge as bridge_mod  # noqa: E402
from ipyparallel import util as ipp_util  # noqa: E402
from ipyparallel.controller.dependency import depend, require  # noqa: E402
from ipyparallel.serialize import deserialize_object, pack_apply_message  # noqa: E402

UUID = "aea4ef37-52ebf27d71ea72b0487e92d8"


class FakeHost:
    def __init__(self):
        self.events = []  # ("stream", name, text) / ("publish", type, content, topic, md, bufs)
        self.logs = []
        self.flushes = 0

    def stream(self, name, data):
        assert isinstance(data, bytes)
        self.events.append(("stream", name, data.decode("utf-8")))

    def flush(self):
        self.flushes += 1

    def publish(self, msg_type, content, topic, engine_metadata, buffers):
        self.events.append(("publish", msg_type, json.loads(content), topic, engine_metadata,
                            [bytes(memoryview(b)) for b in buffers]))

    def log(self, level, message):
        self.logs.append((level, message))

    # helpers
    def text(self, name="stdout"):
        return "".join(e[2] for e in self.events if e[0] == "stream" and e[1] == name)

    def published(self, msg_type=None):
        return [e for e in self.events if e[0] == "publish" and (msg_type is None or e[1] == msg_type)]

    def clear(self):
        self.events.clear()
        self.logs.clear()


@pytest.fixture
def saved_streams():
    out, err = sys.stdout, sys.stderr
    handler = signal.getsignal(signal.SIGINT)
    yield
    sys.stdout, sys.stderr = out, err
    signal.signal(signal.SIGINT, handler)


def make_bridge(use_ipython, engine_id=3):
    host = FakeHost()
    b = bridge_mod.Bridge(host, engine_uuid=UUID, engine_id=engine_id, use_ipython=use_ipython)
    b.start(engine_id)
    host.clear()
    return b, host


@pytest.fixture(params=["ipython", "plain"])
def engine(request, saved_streams):
    b, host = make_bridge(request.param == "ipython")
    yield b, host
    b.shutdown()


@pytest.fixture
def ipython_engine(saved_streams):
    b, host = make_bridge(True)
    yield b, host
    b.shutdown()


def run_apply(b, f, *args, **kwargs):
    b.install_streams()  # pytest's capture swaps sys.stdout between setup and call
    content_json, buffers = b.apply("d7655aba-4bb63ba45a618f701c2aba22_11563_1",
                                    pack_apply_message(f, args, kwargs))
    content = json.loads(content_json)
    if content["status"] == "ok":
        value, rest = deserialize_object([bytes(memoryview(x)) for x in buffers])
        assert rest == []
        return content, value
    assert buffers == []
    return content, None


# ------------------------------------------------------------------------------------ apply
def test_apply_returns_serialized_result(engine):
    b, host = engine
    content, value = run_apply(b, lambda x: 2 * x, 21)
    assert content == {"status": "ok"}
    assert value == 42


def test_apply_kwargs_and_large_buffers(engine):
    b, _ = engine
    payload = b"x" * 5000  # above buffer_threshold: travels as its own frame
    content, value = run_apply(b, lambda data, n=1: (len(data), n, data[:3]), payload, n=7)
    assert value == (5000, 7, b"xxx")


def test_apply_output_streams_in_order(engine):
    b, host = engine

    def f(x):
        print("hello", x)
        print("oops", file=sys.stderr)
        return x

    run_apply(b, f, 21)
    assert host.text("stdout") == "hello 21\n"
    assert host.text("stderr") == "oops\n"


def test_apply_error_content(engine):
    b, host = engine

    def boom():
        return 1 / 0

    content, _ = run_apply(b, boom)
    assert content["status"] == "error"
    assert content["ename"] == "ZeroDivisionError"
    assert content["evalue"] == "division by zero"
    assert content["engine_info"] == {"engine_uuid": UUID, "engine_id": 3, "method": "apply"}
    assert any("boom" in line for line in content["traceback"])
    errors = host.published("error")
    assert len(errors) == 1  # 9.1: a single IOPub error per failed apply
    _, _, err, topic, engine_md, _ = errors[0]
    assert topic == "engine.3.error" and engine_md
    assert err["ename"] == "ZeroDivisionError" and err["engine_info"]["method"] == "apply"


def test_apply_uses_and_cleans_user_namespace(engine):
    b, _ = engine
    run_apply(b, ipp_util._push, x=5, y=[1, 2])
    _, value = run_apply(b, ipp_util._pull, ("x", "y"))
    assert value == [5, [1, 2]]
    leftovers = [k for k in b.user_ns if k.startswith("_d7655aba")]
    assert leftovers == []


def test_apply_unmet_dependency(engine):
    b, _ = engine

    @require("a_module_that_does_not_exist_xyz")
    def needs_module():
        return 1

    content, _ = run_apply(b, needs_module)
    assert content["status"] == "error"
    assert content["ename"] == "UnmetDependency"


def test_apply_depend_true_and_false(engine):
    b, _ = engine

    def yes():
        return True

    def no():
        return False

    @depend(yes)
    def ok():
        return "ran"

    @depend(no)
    def not_ok():
        return "ran"

    assert run_apply(b, ok)[1] == "ran"
    assert run_apply(b, not_ok)[0]["ename"] == "UnmetDependency"


def test_apply_unpicklable_result_is_an_error(engine):
    b, _ = engine
    import threading

    content, _ = run_apply(b, threading.Lock)
    assert content["status"] == "error"
    assert "pickle" in content["evalue"].lower() or content["ename"] in ("PicklingError", "TypeError")
    # the engine keeps working
    assert run_apply(b, lambda: 1)[1] == 1


def test_apply_sys_exit_is_an_error_not_an_exit(engine):
    b, _ = engine
    content, _ = run_apply(b, sys.exit, 3)
    assert content["status"] == "error"
    assert content["ename"] == "SystemExit"
    assert run_apply(b, lambda: "alive")[1] == "alive"


def test_task_replacing_stdout_is_restored(engine):
    b, host = engine

    def hijack():
        import io
        import sys

        sys.stdout = io.StringIO()
        print("lost")
        return 1

    assert run_apply(b, hijack)[1] == 1
    assert "replaced sys.stdout" in host.text("stderr")
    assert any("replaced" in m for _, m in host.logs)
    host.clear()
    run_apply(b, print, "back")
    assert host.text("stdout") == "back\n"


def test_sigint_interrupts_a_task(engine):
    b, _ = engine

    def sleeper():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)
        return "not interrupted"

    t0 = time.monotonic()
    content, _ = run_apply(b, sleeper)
    assert time.monotonic() - t0 < 5
    assert content["ename"] == "KeyboardInterrupt"


def test_sigint_is_ignored_when_idle(engine):
    b, host = engine
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the Python-level handler runs here; it must not raise
    assert any("Ignoring SIGINT" in m for _, m in host.logs)


def test_threshold_settings_are_used(saved_streams):
    host = FakeHost()
    b = bridge_mod.Bridge(host, engine_uuid=UUID, engine_id=0, use_ipython=False,
                          buffer_threshold=10)
    b.start(0)
    _, buffers = b.apply("m1", pack_apply_message(lambda: b"y" * 100, (), {}))
    assert len(buffers) == 2  # the 100-byte result travels as a separate frame
    b.shutdown()


# ---------------------------------------------------------------------------------- execute
def execute(b, code, silent=False, **extra):
    b.install_streams()
    return json.loads(b.execute(json.dumps({"code": code, "silent": silent, **extra})))


def test_execute_result_and_input(engine):
    b, host = engine
    before = b.shell.execution_count
    reply = execute(b, "a = 5\na * 2")
    assert reply["status"] == "ok"
    assert reply["execution_count"] == before
    assert reply["user_expressions"] == {} and reply["payload"] == []
    inputs = host.published("execute_input")
    assert inputs[0][2] == {"code": "a = 5\na * 2", "execution_count": before}
    assert inputs[0][3] == "engine.3.execute_input"
    results = host.published("execute_result")
    assert len(results) == 1
    _, _, content, topic, engine_md, _ = results[0]
    assert content["data"]["text/plain"] == "10"
    assert content["execution_count"] == before
    assert topic == "engine.3.execute_result" and engine_md is False
    assert b.user_ns["a"] == 5


def test_execute_silent_publishes_no_input_and_no_result(engine):
    b, host = engine
    before = b.shell.execution_count
    reply = execute(b, "1 + 1", silent=True)
    assert reply["status"] == "ok"
    assert b.shell.execution_count == before
    assert host.published("execute_input") == [] and host.published("execute_result") == []


def test_execute_stdout(engine):
    b, host = engine
    execute(b, "print('hi there')", silent=True)
    assert host.text() == "hi there\n"


def test_execute_error(engine):
    b, host = engine
    reply = execute(b, "raise ValueError('bad value')")
    assert reply["status"] == "error"
    assert reply["ename"] == "ValueError" and reply["evalue"] == "bad value"
    assert reply["engine_info"] == {"engine_uuid": UUID, "engine_id": 3, "method": "execute"}
    assert reply["traceback"]
    assert "execution_count" in reply and reply["user_expressions"] == {}
    errors = host.published("error")
    assert len(errors) == 1 and errors[0][2]["ename"] == "ValueError"


def test_execute_syntax_error(engine):
    b, _ = engine
    reply = execute(b, "def (:")
    assert reply["status"] == "error" and reply["ename"] == "SyntaxError"


def test_execute_sys_exit(engine):
    b, _ = engine
    reply = execute(b, "import sys; sys.exit(2)")
    assert reply["status"] == "error" and reply["ename"] == "SystemExit"


def test_execute_user_expressions(engine):
    b, _ = engine
    reply = execute(b, "z = 7", user_expressions={"double": "z * 2"})
    assert reply["user_expressions"]["double"]["data"]["text/plain"] == "14"


def test_clear_resets_namespace(engine):
    b, _ = engine
    execute(b, "gone = 1", silent=True)
    assert "gone" in b.user_ns
    b.clear()
    assert "gone" not in b.user_ns
    assert execute(b, "x = 1", silent=True)["status"] == "ok"


def test_kernel_info(engine):
    b, _ = engine
    info = json.loads(b.kernel_info())
    assert info["status"] == "ok" and info["protocol_version"] == "5.3"
    assert info["language_info"]["name"] == "python"


def test_run_startup(engine, tmp_path):
    b, _ = engine
    script = tmp_path / "startup.py"
    script.write_text("from_script = 40\n")
    failures = b.run_startup(["from_line = from_script + 2"], [str(script)])
    assert failures == []
    assert b.user_ns["from_line"] == 42
    failures = b.run_startup(["raise RuntimeError('nope')"], [])
    assert len(failures) == 1


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py not installed")
def test_init_mpi_returns_comm_world():
    # in a child process: importing mpi4py initialises MPI for the whole process (a singleton
    # world here; tests/integration/engine/test_mpi_engines.py runs engines under mpiexec)
    code = "import ipp_engine_bridge as b; print(b.Bridge.init_mpi())"
    env = dict(os.environ, PYTHONPATH=str(Path(bridge_mod.__file__).parent))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(0, 1)"


def test_publish_data(engine):
    b, host = engine
    from ipyparallel.datapub import publish_data

    def f():
        from ipyparallel.datapub import publish_data as pd

        pd({"progress": 0.5})

    run_apply(b, f)
    msgs = host.published("data_message")
    assert len(msgs) == 1
    _, _, content, topic, _, buffers = msgs[0]
    assert content == {"keys": ["progress"]} and topic == "datapub"
    data, _ = deserialize_object(buffers)
    assert data == {"progress": 0.5}
    assert publish_data  # imported name stays usable


# ------------------------------------------------------------------------- IPython only
def test_ipython_magic_and_display(ipython_engine):
    b, host = ipython_engine
    reply = execute(b, "from IPython.display import display\n"
                       "display({'a': 1}, raw=False)\n"
                       "x = %pwd\n"
                       "x")
    assert reply["status"] == "ok", reply
    displays = host.published("display_data")
    assert len(displays) == 1
    assert displays[0][3] == "engine.3.displaypub"
    assert set(displays[0][2]) == {"data", "metadata", "transient"}
    result = host.published("execute_result")[0][2]
    assert result["data"]["text/plain"] == repr(os.getcwd())


def test_ipython_kernel_attribute(ipython_engine):
    b, _ = ipython_engine
    _, value = run_apply(b, lambda: (get_ipython().kernel.engine_id,  # noqa: F821
                                     get_ipython().kernel.ident))
    assert value == (3, UUID)


def test_ipython_exit_does_not_stop(ipython_engine):
    b, _ = ipython_engine
    reply = execute(b, "exit()")
    assert reply["status"] == "ok"
    assert b.shell.exit_now is False
