"""The Python half of the C++ ``ipengine``.

The C++ engine owns the sockets, the heartbeat, the control channel and the message envelope;
everything with Python semantics lives here, so it can be read, linted and tested with pytest:

* ``apply_request``: ``ipyparallel.serialize.unpack_apply_message`` in the user namespace, the
  call, ``serialize_object`` of the result with the Session thresholds, or ipyparallel's error
  content (``ename``, ``evalue``, IPython-formatted ``traceback``, ``engine_info``), mirroring
  ``ipyparallel.engine.kernel.IPythonParallelKernel.do_apply``.
* ``execute_request``: IPython's ``InteractiveShell.run_cell`` (magics, ``%px``, display hook,
  ``display()``), or plain ``exec`` when IPython is not importable, mirroring ipykernel's
  ``IPythonKernel.do_execute``.
* ``sys.stdout``/``sys.stderr`` are replaced by streams that hand text to the host; the host (the
  C++ IOPub side) buffers it and publishes ``stream`` messages while the task runs.
* SIGINT is ``KeyboardInterrupt`` while a task runs and is logged and ignored while idle, as the
  Python engine does (ipykernel ``pre_handler_hook`` / ``IPEngine._signal_sigint``).

The host is any object with four methods (C++ passes an ``_ipp_engine.Host``; tests pass a fake):

``stream(name: str, data: bytes)``
    text written to ``sys.stdout`` (``name="stdout"``) or ``sys.stderr``, UTF-8 encoded;
``flush()``
    hand buffered stream text to the IOPub publisher now (called by ``sys.stdout.flush()`` and
    before every display or error message, so outputs keep their order);
``publish(msg_type: str, content: str, topic: str, engine_metadata: bool, buffers: list)``
    one IOPub message; ``content`` is JSON text, ``topic`` the full topic frame;
``log(level: int, message: str)``
    a line for the engine log (``logging`` levels).

All entry points are called on the interpreter's main thread. Results cross into C++ as JSON text
and bytes-like buffers, so the C++ side never walks Python objects.
"""

from __future__ import annotations

import ast
import base64
import datetime
import importlib.util
import io
import json
import logging
import os
import platform
import signal
import sys
import traceback
import types


def _defer_package_init(name: str):
    """Make ``name``'s submodules importable without running the package's ``__init__`` yet.

    ``ipyparallel/__init__.py`` imports the client, IPython, setuptools and more (about 0.6 s);
    the engine needs only ``ipyparallel.serialize`` to start serving. The package module is
    created from its spec and registered, so ``import ipyparallel.serialize`` loads just that
    subpackage; :meth:`Bridge.setup` runs the ``__init__`` in the same module object before any
    user code can import the package. Returns ``(spec, module)``, or ``None`` when the package is
    already imported or is not a plain package.
    """
    if name in sys.modules:
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return spec, module


def _finish_package_init(deferred) -> None:
    """Run the ``__init__`` that :func:`_defer_package_init` postponed (once)."""
    if not deferred:
        return
    spec, module = deferred
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(spec.name) is module:
            del sys.modules[spec.name]  # the next import retries and raises the real error
        raise


_DEFERRED_IPYPARALLEL = _defer_package_init("ipyparallel")

from ipyparallel.serialize import serialize_object, unpack_apply_message  # noqa: E402

try:  # signal.signal without the enum conversions; it is set three times per task
    from _signal import signal as _set_signal
except ImportError:  # pragma: no cover
    _set_signal = signal.signal

# what an apply_request runs in the user namespace (names chosen so user code cannot clash by
# accident); compiled once instead of once per request
_APPLY_NAMES = ("_ipp_apply_f", "_ipp_apply_args", "_ipp_apply_kwargs", "_ipp_apply_result")
_APPLY_CODE = compile("_ipp_apply_result = _ipp_apply_f(*_ipp_apply_args, **_ipp_apply_kwargs)",
                      "<string>", "exec")
_OK_CONTENT = '{"status": "ok"}'

try:  # the thresholds jupyter_client.Session uses by default (1024 bytes, 64 items)
    from jupyter_client.session import MAX_BYTES, MAX_ITEMS
except ImportError:  # pragma: no cover - ipyparallel itself needs jupyter_client
    MAX_BYTES, MAX_ITEMS = 1024, 64

PROTOCOL_VERSION = "5.3"
_INTERRUPT_WARNING = "Ignoring SIGINT. Terminate with SIGTERM."


# --------------------------------------------------------------------------------------- JSON
def _json_default(obj):
    """What jupyter_client's ``json_default`` + ipykernel's ``json_clean`` make of non-JSON."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, datetime.datetime):
        if obj.tzinfo is None:
            obj = obj.replace(tzinfo=datetime.timezone.utc)
        return obj.isoformat().replace("+00:00", "Z")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, float):  # nan / inf (allow_nan=False sends them here only via retry)
        return repr(obj)
    return repr(obj)


def dumps(obj) -> str:
    """JSON text for the C++ side: UTF-8 safe, NaN/Infinity as strings like ``json_clean``."""
    try:
        return json.dumps(obj, default=_json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_clean_floats(obj), default=_json_default, ensure_ascii=False)


def _clean_floats(obj):
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    return obj


def _safe_str(value) -> str:
    try:
        return str(value)
    except Exception as e:  # as do_apply: "Failed to cast exception to string"
        return f"Failed to cast exception to string: {e}"


# ------------------------------------------------------------------------------------ streams
class HostStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` replacement that hands text to the host.

    Writes never block on a socket: the host only appends to a buffer that its IOPub thread
    publishes (on newline, size or a short interval, and always before a reply).
    """

    encoding = "UTF-8"
    errors = "replace"

    def __init__(self, host, name: str, original=None):
        super().__init__()
        self._host = host
        self._name = name
        self._original = original

    @property
    def name(self):  # file-like objects expose their name; ipykernel's OutStream does too
        return self._name

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if s:
            self._host.stream(self._name, s.encode("utf-8", "replace"))
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._host.flush()

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        # as ipykernel's OutStream: expose the original descriptor for code (faulthandler,
        # subprocess) that needs a real one; its output goes to the engine's own log
        if self._original is not None:
            try:
                return self._original.fileno()
            except (AttributeError, ValueError, io.UnsupportedOperation):
                pass
        raise io.UnsupportedOperation("fileno")

    def close(self):
        # closing sys.stdout would break every later task; keep it usable
        pass

    @property
    def closed(self):
        return False


# ---------------------------------------------------------------------------------- the shell
class EngineKernelInfo:
    """What ``get_ipython().kernel`` offers user code on a Python engine (7.8 in protocol.md)."""

    def __init__(self, bridge: "Bridge"):
        self._bridge = bridge

    @property
    def engine_id(self):
        return self._bridge.engine_id

    @property
    def int_id(self):
        return self._bridge.engine_id

    @property
    def ident(self):
        return self._bridge.engine_uuid

    @property
    def data_pub(self):
        return self._bridge.data_pub


class DataPublisher:
    """``ipyparallel.datapub.publish_data`` for this engine: a ``data_message`` on IOPub."""

    def __init__(self, bridge: "Bridge"):
        self._bridge = bridge

    def publish_data(self, data):
        b = self._bridge
        buffers = serialize_object(
            data, buffer_threshold=b.buffer_threshold, item_threshold=b.item_threshold
        )
        b.host.flush()
        b.host.publish(
            "data_message", dumps({"keys": list(data.keys())}), "datapub", True,
            [_as_buffer(x) for x in buffers],
        )


def _make_ipython_shell_class():
    """Subclasses of IPython's shell, display hook and display publisher that publish through
    the host, as ipykernel's ZMQInteractiveShell does through its session."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type

    class BridgeDisplayHook(DisplayHook):
        """``execute_result`` messages (ipykernel ``ZMQShellDisplayHook``)."""

        _content = None

        def start_displayhook(self):
            self._content = {"data": {}, "metadata": {}}

        def write_output_prompt(self):
            self._content["execution_count"] = self.prompt_count

        def write_format_data(self, format_dict, md_dict=None):
            self._content["data"] = format_dict
            self._content["metadata"] = md_dict or {}

        def finish_displayhook(self):
            bridge = self.shell._ipp_bridge
            content, self._content = self._content, None
            if bridge is not None and content and content["data"]:
                bridge.host.flush()
                bridge.host.publish(
                    "execute_result", dumps(content), bridge.topic("execute_result"), False, []
                )

    class BridgeDisplayPublisher(DisplayPublisher):
        """``display_data`` / ``update_display_data`` / ``clear_output`` (ipykernel
        ``ZMQDisplayPublisher``)."""

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            bridge = self.shell._ipp_bridge if self.shell is not None else None
            if bridge is None:
                return
            content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            msg_type = "update_display_data" if update else "display_data"
            bridge.host.flush()
            bridge.host.publish(msg_type, dumps(content), bridge.topic("displaypub"), False, [])

        def clear_output(self, wait=False):
            bridge = self.shell._ipp_bridge if self.shell is not None else None
            if bridge is None:
                return
            bridge.host.flush()
            bridge.host.publish(
                "clear_output", dumps({"wait": bool(wait)}), bridge.topic("clear_output"), True, []
            )

    class BridgeShell(InteractiveShell):
        displayhook_class = Type(BridgeDisplayHook)
        display_pub_class = Type(BridgeDisplayPublisher)

        _ipp_bridge = None
        _last_traceback = None

        def _showtraceback(self, etype, evalue, stb):
            # ipykernel's ZMQInteractiveShell: remember the formatted traceback for the reply
            # and publish an IOPub ``error`` (execute only; apply publishes its own, once).
            self._last_traceback = stb
            bridge = self._ipp_bridge
            if bridge is not None and bridge._publish_tracebacks:
                content = {"traceback": stb, "ename": str(etype.__name__),
                           "evalue": _safe_str(evalue)}
                bridge.host.flush()
                bridge.host.publish("error", dumps(content), bridge.topic("error"), True, [])

        def ask_exit(self):
            # exit()/quit() in a task must not stop the engine (ipykernel turns it into a
            # payload that a notebook frontend may act on); keep going.
            self.exit_now = False

        def enable_gui(self, gui=None):
            # "inline" (%pylab inline, %matplotlib inline) needs no event loop: figures go out
            # as display_data. A real GUI loop has no screen to run on here.
            if gui and gui != "inline":
                raise NotImplementedError(
                    f"GUI event loop {gui!r} is not supported on ipengine; use 'inline'")
            self.active_eventloop = gui

    return BridgeShell


class PlainShell:
    """Fallback when IPython is not importable: ``exec`` in a ``__main__`` module, the last
    expression through ``sys.displayhook`` (``execute_result``) like the interactive prompt."""

    def __init__(self, bridge: "Bridge", user_ns=None):
        self._bridge = bridge
        module = types.ModuleType("__main__")
        if user_ns:
            module.__dict__.update(user_ns)
        module.__dict__.setdefault("__builtins__", __builtins__)
        self.user_module = module
        self.user_ns = module.__dict__
        self.user_global_ns = module.__dict__
        sys.modules["__main__"] = module
        self.execution_count = 1
        self._last_traceback = None
        self.kernel = bridge.kernel
        # ipyparallel's helpers (util._push/_pull/_execute, @require) call get_ipython();
        # offer it as IPython does, through builtins
        import builtins

        builtins.get_ipython = lambda: self

    def format_exception(self, etype, evalue, tb):
        return traceback.format_exception(etype, evalue, tb)

    def showtraceback(self):
        etype, evalue, tb = sys.exc_info()
        # drop our own frames so the traceback starts in user code
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        stb = self.format_exception(etype, evalue, tb)
        self._last_traceback = stb
        bridge = self._bridge
        if bridge._publish_tracebacks:
            content = {"traceback": stb, "ename": etype.__name__, "evalue": _safe_str(evalue)}
            bridge.host.flush()
            bridge.host.publish("error", dumps(content), bridge.topic("error"), True, [])

    def run_cell(self, code, store_history=False, silent=False):
        """Returns (success, error)."""
        count = self.execution_count
        if store_history:
            self.execution_count += 1
        try:
            tree = ast.parse(code, filename=f"<cell-{count}>")
        except BaseException as e:  # SyntaxError
            self.showtraceback()
            return False, e
        body = tree.body
        last = None
        if body and isinstance(body[-1], ast.Expr) and not silent:
            last = ast.Interactive(body=[body.pop()])
        old_hook = sys.displayhook
        sys.displayhook = self._make_displayhook(count)
        try:
            if body:
                exec(compile(ast.Module(body=body, type_ignores=[]), f"<cell-{count}>", "exec"),
                     self.user_ns)
            if last is not None:
                exec(compile(last, f"<cell-{count}>", "single"), self.user_ns)
        except BaseException as e:
            self.showtraceback()
            return False, e
        finally:
            sys.displayhook = old_hook
        return True, None

    def _make_displayhook(self, count):
        bridge = self._bridge

        def hook(value):
            if value is None:
                return
            self.user_ns["_"] = value
            content = {"data": {"text/plain": repr(value)}, "metadata": {},
                       "execution_count": count}
            bridge.host.flush()
            bridge.host.publish("execute_result", dumps(content), bridge.topic("execute_result"),
                                False, [])

        return hook

    def user_expressions(self, expressions):
        out = {}
        for key, expr in (expressions or {}).items():
            try:
                value = eval(expr, self.user_ns)
                out[key] = {"status": "ok", "data": {"text/plain": repr(value)}, "metadata": {}}
            except BaseException as e:
                out[key] = {"status": "error", "ename": type(e).__name__, "evalue": _safe_str(e),
                            "traceback": traceback.format_exception(type(e), e, e.__traceback__)}
        return out

    def reset(self, new_session=True):
        builtins_ = self.user_ns.get("__builtins__", __builtins__)
        self.user_ns.clear()
        self.user_ns.update({"__name__": "__main__", "__builtins__": builtins_})

    def safe_execfile(self, path, *where, **kwargs):
        with open(path, "rb") as f:
            source = f.read()
        ns = self.user_ns
        ns["__file__"] = path
        try:
            exec(compile(source, path, "exec"), ns)
        finally:
            ns.pop("__file__", None)


def _as_buffer(obj):
    """A contiguous bytes-like object the C++ side can read through the buffer protocol."""
    if isinstance(obj, bytes):
        return obj
    view = memoryview(obj)
    if not view.c_contiguous:
        return view.tobytes()
    return view


# --------------------------------------------------------------------------------- the bridge
class Bridge:
    """One engine's interpreter state: the shell (user namespace), streams and signal handling.

    Created once by the C++ engine after the interpreter is initialised; lives until shutdown.
    """

    def __init__(self, host, *, engine_uuid: str = "", engine_id: int = -1,
                 use_ipython: bool = True, buffer_threshold: int = MAX_BYTES,
                 item_threshold: int = MAX_ITEMS, profile_dir: str | None = None,
                 user_ns: dict | None = None, defer_setup: bool = False):
        self.host = host
        self.engine_uuid = engine_uuid
        self.engine_id = engine_id
        self.buffer_threshold = buffer_threshold
        self.item_threshold = item_threshold
        self._publish_tracebacks = True
        self._in_task = False
        self._streams = None
        self.data_pub = DataPublisher(self)
        self.kernel = EngineKernelInfo(self)
        self.shell = None
        self.using_ipython = False
        self._setup_args = (use_ipython, profile_dir, user_ns)
        if not defer_setup:
            self.setup()

    def setup(self):
        """The slow part of start-up: the rest of ``ipyparallel`` and the shell (IPython's).

        The C++ engine calls it after its heart has started, so an engine is announced as soon as
        it can take requests; they wait in its socket until this returns.
        """
        if self.shell is not None:
            return
        _finish_package_init(_DEFERRED_IPYPARALLEL)
        use_ipython, profile_dir, user_ns = self._setup_args
        if "" not in sys.path:  # IPEngine.init_engine: the working dir is importable
            sys.path.insert(0, "")
        self.shell = self._make_shell(use_ipython, profile_dir, user_ns)
        self._patch_datapub()

    @staticmethod
    def init_mpi() -> tuple:
        """``IPEngine.use_mpi``: initialise MPI in this process and return COMM_WORLD's
        ``(rank, size)``.

        Python's engine does it before it registers (the default of ``IPEngine.id`` imports
        mpi4py, whose import calls MPI_Init). An ImportError propagates: it stops Python's engine
        too. The ``init_mpi`` exec line binds ``MPI``, ``mpi_rank`` and ``mpi_size`` in the user
        namespace later, like any startup code.
        """
        from mpi4py import MPI

        world = MPI.COMM_WORLD
        return world.Get_rank(), world.Get_size()

    @staticmethod
    def startup_files(startup_dir: str | None) -> list:
        """$PYTHONSTARTUP, then the profile's ``startup/*.py|*.ipy``, in IPython's order."""
        files = []
        if startup_dir and os.path.isdir(startup_dir):
            files += [os.path.join(startup_dir, f) for f in sorted(os.listdir(startup_dir))
                      if f.endswith((".py", ".ipy"))]
        python_startup = os.environ.get("PYTHONSTARTUP")
        if python_startup and os.path.isfile(python_startup):
            files.insert(0, python_startup)
        return files

    def has_startup_code(self, exec_lines=(), exec_files=(), startup_dir: str | None = None):
        """Whether :meth:`run_startup` would run anything."""
        return bool(exec_lines) or bool(exec_files) or bool(self.startup_files(startup_dir))

    # ----------------------------------------------------------------------------- setup
    def _make_shell(self, use_ipython, profile_dir, user_ns):
        self.using_ipython = False
        if use_ipython:
            try:
                shell_class = _make_ipython_shell_class()
            except ImportError as e:
                self.host.log(logging.WARNING, f"IPython not available ({e}); using plain exec")
            else:
                self.using_ipython = True
                return self._make_ipython_shell(shell_class, profile_dir, user_ns)
        return PlainShell(self, user_ns)

    def _make_ipython_shell(self, shell_class, profile_dir, user_ns):
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        existing = InteractiveShell._instance
        if existing is not None and getattr(existing, "_ipp_bridge", "absent") != "absent":
            shell = existing  # a second Bridge in one process (tests): rebind the shell
        else:
            config = Config()
            config.HistoryManager.hist_file = ":memory:"  # as IPEngine: history in memory only
            kwargs = {"config": config}
            if profile_dir:
                from IPython.core.profiledir import ProfileDir

                try:
                    kwargs["profile_dir"] = ProfileDir(location=profile_dir)
                except Exception as e:  # a missing profile must not stop the engine
                    self.host.log(logging.WARNING, f"profile dir {profile_dir!r}: {e}")
            if user_ns is not None:
                kwargs["user_ns"] = user_ns
            shell = shell_class.instance(**kwargs)
        shell._ipp_bridge = self
        shell.kernel = self.kernel
        shell.data_pub = self.data_pub
        return shell

    def _patch_datapub(self):
        # ipyparallel.datapub.publish_data looks for ZMQInteractiveShell.instance(), which does
        # not exist here; route it to this engine's publisher instead.
        try:
            import ipyparallel.datapub as datapub
            import ipyparallel.engine.datapub as engine_datapub
        except ImportError:  # pragma: no cover
            return
        datapub.publish_data = self.data_pub.publish_data
        engine_datapub.publish_data = self.data_pub.publish_data

    def topic(self, kind: str) -> str:
        return f"engine.{self.engine_id}.{kind}"

    @property
    def user_ns(self):
        return self.shell.user_ns

    def start(self, engine_id: int, engine_uuid: str | None = None):
        """Registration completed: remember the id, redirect the streams, ignore idle SIGINT."""
        self.engine_id = engine_id
        if engine_uuid is not None:
            self.engine_uuid = engine_uuid
        self.install_streams()
        self.idle()
        # a crash in C code (ctypes.string_at(0)) kills the process like any segfault; leave the
        # Python traceback of the task in the engine log so the death has a visible cause
        try:
            import faulthandler

            if sys.__stderr__ is not None and not faulthandler.is_enabled():
                faulthandler.enable(file=sys.__stderr__)
        except (ImportError, ValueError, io.UnsupportedOperation):
            pass

    def install_streams(self):
        self._streams = (
            HostStream(self.host, "stdout", sys.__stdout__),
            HostStream(self.host, "stderr", sys.__stderr__),
        )
        sys.stdout, sys.stderr = self._streams

    def _restore_streams(self):
        """After a task: put our streams back if user code replaced them, and say so."""
        if self._streams is None:
            return
        replaced = [
            name for name, ours in zip(("stdout", "stderr"), self._streams)
            if getattr(sys, name) is not ours
        ]
        sys.stdout, sys.stderr = self._streams
        if replaced:
            names = " and ".join(f"sys.{n}" for n in replaced)
            message = (f"[ipengine] the task replaced {names}; restored the engine's streams "
                       f"so output keeps reaching the client\n")
            self.host.stream("stderr", message.encode("utf-8"))
            self.host.log(logging.WARNING, message.strip())

    # ------------------------------------------------------------------------ signals
    def _idle_sigint(self, signum, frame):
        self.host.log(logging.WARNING, _INTERRUPT_WARNING)

    def idle(self):
        """Between tasks: SIGINT is logged and ignored (IPEngine._signal_sigint)."""
        self._in_task = False
        try:
            _set_signal(signal.SIGINT, self._idle_sigint)
        except ValueError:  # not the main thread (only in unusual embeddings)
            pass

    def _begin_task(self):
        # drain a SIGINT that arrived while idle, under the idle handler, then arm
        # KeyboardInterrupt for the task (ipykernel pre_handler_hook)
        try:
            _set_signal(signal.SIGINT, self._idle_sigint)
            _set_signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:
            pass
        self._in_task = True

    def _end_task(self):
        self.idle()
        self._restore_streams()

    # -------------------------------------------------------------------------- apply
    def apply(self, msg_id: str, buffers) -> tuple:
        """Run one ``apply_request``. Returns ``(content_json, result_buffers)``."""
        self._begin_task()
        try:
            content, result = self._do_apply(buffers)
        finally:
            self._end_task()
        return (_OK_CONTENT if content is None else dumps(content)), result

    def _do_apply(self, buffers):
        """``(None, result buffers)`` on success, ``(error content, [])`` on failure."""
        shell = self.shell
        working = shell.user_ns
        fname, argname, kwargname, resultname = _APPLY_NAMES
        try:
            f, args, kwargs = unpack_apply_message(list(buffers), working, copy=False)
            working.update({fname: f, argname: args, kwargname: kwargs, resultname: None})
            try:
                exec(_APPLY_CODE, shell.user_global_ns, shell.user_ns)
                result = working.get(resultname)
            finally:
                for key in _APPLY_NAMES:
                    working.pop(key, None)
            result_buffers = serialize_object(
                result, buffer_threshold=self.buffer_threshold, item_threshold=self.item_threshold
            )
        except BaseException as e:  # noqa: B902 - as do_apply: SystemExit, KeyboardInterrupt too
            content = self._error_content(e, "apply")
            self.host.flush()
            self.host.publish("error", dumps(content), self.topic("error"), True, [])
            content["status"] = "error"
            return content, []
        return None, [_as_buffer(b) for b in result_buffers]

    def _format_traceback(self, e) -> list:
        """IPython's formatted traceback of the exception being handled (showtraceback)."""
        shell = self.shell
        shell._last_traceback = None
        self._publish_tracebacks = False
        try:
            shell.showtraceback()
        except BaseException:  # formatting must never take the engine down
            shell._last_traceback = None
        finally:
            self._publish_tracebacks = True
        stb = shell._last_traceback
        shell._last_traceback = None
        if not stb:
            stb = traceback.format_exception(type(e), e, e.__traceback__)
        return list(stb)

    def _error_content(self, e, method) -> dict:
        return {
            "traceback": self._format_traceback(e),
            "ename": str(type(e).__name__),
            "evalue": _safe_str(e),
            "engine_info": {"engine_uuid": self.engine_uuid, "engine_id": self.engine_id,
                            "method": method},
        }

    # ------------------------------------------------------------------------ execute
    def execute(self, content_json: str) -> str:
        """Run one ``execute_request`` (content as JSON text). Returns the reply content JSON."""
        request = json.loads(content_json) if content_json else {}
        code = request.get("code", "")
        silent = bool(request.get("silent", False))
        store_history = bool(request.get("store_history", not silent))
        user_expressions = request.get("user_expressions") or {}
        self._begin_task()
        try:
            reply = self._do_execute(code, silent, store_history, user_expressions)
        finally:
            self._end_task()
        return dumps(reply)

    def _do_execute(self, code, silent, store_history, user_expressions):
        shell = self.shell
        if not silent:  # ipykernel publishes the input with the count the cell will get
            self.host.publish(
                "execute_input", dumps({"code": code, "execution_count": shell.execution_count}),
                self.topic("execute_input"), True, [])
        shell._last_traceback = None
        if self.using_ipython:
            result = shell.run_cell(code, store_history=store_history, silent=silent)
            error = result.error_before_exec if result.error_before_exec is not None \
                else result.error_in_exec
            success = result.success
        else:
            success, error = shell.run_cell(code, store_history=store_history, silent=silent)
        reply = {}
        if success:
            reply["status"] = "ok"
        else:
            reply["status"] = "error"
            reply["traceback"] = list(shell._last_traceback or [])
            reply["ename"] = str(type(error).__name__)
            reply["evalue"] = _safe_str(error)
            reply["engine_info"] = {"engine_uuid": self.engine_uuid,
                                    "engine_id": self.engine_id, "method": "execute"}
        shell._last_traceback = None
        reply["execution_count"] = shell.execution_count - 1
        if success:
            try:
                reply["user_expressions"] = shell.user_expressions(user_expressions)
            except BaseException as e:
                reply["user_expressions"] = {}
                self.host.log(logging.ERROR, f"user_expressions failed: {e!r}")
        else:
            reply["user_expressions"] = {}
        payload = []
        manager = getattr(shell, "payload_manager", None)
        if manager is not None:
            payload = manager.read_payload()
            manager.clear_payload()
        reply["payload"] = payload
        return reply

    # ------------------------------------------------------------------- control side
    def clear(self):
        """``clear_request``: reset the user namespace (IPythonParallelKernel.clear_request)."""
        self.shell.reset(False)

    def kernel_info(self) -> str:
        """``kernel_info_reply`` content (ipykernel's kernel_info), as JSON text."""
        if self.using_ipython:
            import IPython

            implementation, version = "ipython", IPython.__version__
            banner = self.shell.banner
            lexer, codemirror = "ipython3", {"name": "ipython", "version": 3}
        else:
            implementation, version = "python", platform.python_version()
            banner = f"Python {sys.version}"
            lexer, codemirror = "python3", {"name": "python", "version": 3}
        return dumps({
            "status": "ok",
            "protocol_version": PROTOCOL_VERSION,
            "implementation": implementation,
            "implementation_version": version,
            "language_info": {
                "name": "python",
                "version": platform.python_version(),
                "mimetype": "text/x-python",
                "codemirror_mode": codemirror,
                "pygments_lexer": lexer,
                "nbconvert_exporter": "python",
                "file_extension": ".py",
            },
            "banner": banner,
            "help_links": [],
        })

    # --------------------------------------------------------------------- start-up
    def run_startup(self, exec_lines=(), exec_files=(), startup_dir: str | None = None) -> list:
        """Profile ``startup/*.py|*.ipy`` files, ``exec_files`` (``-s``) and ``exec_lines``
        (``-c``), in IPython's InteractiveShellApp order. Returns one message per failure."""
        failures = []
        files = self.startup_files(startup_dir)
        self._begin_task()
        try:
            for path in list(files) + list(exec_files):
                try:
                    self._run_file(path)
                except BaseException as e:
                    failures.append(f"{path}: {type(e).__name__}: {_safe_str(e)}")
            for line in exec_lines:
                if not self._run_line(line):
                    failures.append(f"{line!r} failed")
        finally:
            self._end_task()
        for failure in failures:
            self.host.log(logging.ERROR, f"startup code failed: {failure}")
        return failures

    def _run_file(self, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such startup file: {path!r}")
        shell = self.shell
        if self.using_ipython and path.endswith(".ipy"):
            shell.safe_execfile_ipy(path, raise_exceptions=True)
        elif self.using_ipython:
            shell.safe_execfile(path, shell.user_ns, raise_exceptions=True)
        else:
            shell.safe_execfile(path)

    def _run_line(self, line) -> bool:
        if self.using_ipython:
            return bool(self.shell.run_cell(line, store_history=False).success)
        ok, _ = self.shell.run_cell(line, store_history=False)
        return ok

    def shutdown(self):
        """Before the interpreter finalises: give the original streams back."""
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:
            pass
