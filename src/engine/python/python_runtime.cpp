// The embedded CPython (STYLE.md "Embedding Python"; model-codebases.md §8.9).
//
// One interpreter per process, initialised from a PyConfig pinned to the configured interpreter
// (Debian's /usr/bin/python3, so its dist-packages with ipyparallel are on sys.path). All Python
// runs on the thread that created it (the engine's main thread); between calls the GIL is
// released, so user threads run while the engine waits for requests. Every Python handle lives in
// PythonRuntime and is dropped before the interpreter is finalised.
#include "bridge_source.hpp"

#include <ipp/engine/python_interpreter.hpp>
#include <ipp/util/log.hpp>

#include <pybind11/embed.h>
#include <pybind11/stl.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace py = pybind11;

namespace ipp::engine::python {

// The host object the bridge calls back into. Holds a plain pointer: the Interpreter (and so the
// Bridge that holds this object) never outlives the engine that owns the host.
struct HostBinding {
  InterpreterHost* host = nullptr;
};

namespace {

std::string_view bytes_view(const py::bytes& b) {
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(b.ptr(), &data, &size) != 0) throw py::error_already_set();
  return {data, static_cast<std::size_t>(size)};
}

// Copies a contiguous bytes-like object into a zmq frame.
wire::Frame to_frame(const py::handle& obj) {
  if (PyBytes_Check(obj.ptr())) {
    auto v = bytes_view(py::reinterpret_borrow<py::bytes>(obj));
    return wire::Frame(v.data(), v.size());
  }
  Py_buffer view;
  if (PyObject_GetBuffer(obj.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  wire::Frame f(view.buf, static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return f;
}

}  // namespace

}  // namespace ipp::engine::python

PYBIND11_EMBEDDED_MODULE(_ipp_engine, m) {
  using ipp::engine::python::HostBinding;
  m.doc() = "Callbacks from ipp_engine_bridge into the C++ ipengine";
  py::class_<HostBinding>(m, "Host")
      .def("stream",
           [](HostBinding& h, const std::string& name, const py::bytes& data) {
             h.host->stream(name, ipp::engine::python::bytes_view(data));
           })
      .def("flush", [](HostBinding& h) { h.host->flush_streams(); })
      .def("publish",
           [](HostBinding& h, std::string msg_type, const std::string& content, std::string topic,
              bool engine_metadata, const py::iterable& buffers) {
             auto json = ipp::wire::Json::parse(content);  // std::exception -> RuntimeError
             ipp::wire::Frames frames;
             for (auto item : buffers) frames.push_back(ipp::engine::python::to_frame(item));
             h.host->publish(std::move(topic), std::move(msg_type), std::move(json),
                             engine_metadata, std::move(frames));
           })
      .def("log", [](HostBinding& h, int level, const std::string& message) {
        h.host->log(level, message);
      });
}

namespace ipp::engine {

std::vector<std::string> bridge_search_path(const std::string& executable) {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("IPP_ENGINE_BRIDGE_DIR"); env != nullptr && *env != '\0') {
    if (std::string_view(env) == ":builtin:") return dirs;  // force the compiled-in copy
    dirs.emplace_back(env);
  }
  if (!executable.empty()) {
    std::error_code ec;
    auto exe = std::filesystem::weakly_canonical(executable, ec);
    if (!ec)
      dirs.push_back((exe.parent_path().parent_path() / "share" / "ipp" / "engine").string());
  }
#ifdef IPP_ENGINE_PY_DIR
  dirs.emplace_back(IPP_ENGINE_PY_DIR);
#endif
  return dirs;
}

namespace python {
namespace {

constexpr const char* kBridgeModule = "ipp_engine_bridge";

py::module_ load_bridge(const std::string& executable) {
  py::module_ sys = py::module_::import("sys");
  for (const auto& dir : bridge_search_path(executable)) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(std::filesystem::path(dir) / "ipp_engine_bridge.py", ec)) {
      spdlog::debug("Loading {} from {}", kBridgeModule, dir);
      sys.attr("path").attr("append")(dir);
      return py::module_::import(kBridgeModule);
    }
  }
  // the copy compiled into the binary
  spdlog::debug("Loading the built-in copy of {}", kBridgeModule);
  const std::string filename = std::string("<ipengine>/") + kBridgeModule + ".py";
  py::module_ builtins = py::module_::import("builtins");
  py::object module = py::module_::import("types").attr("ModuleType")(kBridgeModule);
  module.attr("__file__") = filename;
  std::string_view src = embedded_bridge_source();
  py::object code = builtins.attr("compile")(py::bytes(src.data(), src.size()), filename, "exec");
  sys.attr("modules")[kBridgeModule] = module;
  builtins.attr("exec")(code, module.attr("__dict__"));
  return py::reinterpret_borrow<py::module_>(module);
}

// Python error content for an exception that escaped the bridge (it catches user errors itself;
// this is the rare case of the bridge failing, e.g. a KeyboardInterrupt between its statements).
wire::Json error_content(const py::error_already_set& e, int engine_id, const std::string& uuid,
                         const char* method) {
  wire::Json c = wire::Json::object();
  c["status"] = "error";
  std::string ename = "Exception";
  std::string evalue;
  try {
    ename = py::str(e.type().attr("__name__"));
    evalue = py::str(e.value());
  } catch (...) {
    evalue = e.what();
  }
  c["ename"] = ename;
  c["evalue"] = evalue;
  c["traceback"] = wire::Json::array({ename + ": " + evalue});
  c["engine_info"] = {{"engine_uuid", uuid}, {"engine_id", engine_id}, {"method", method}};
  return c;
}

}  // namespace

// hidden like pybind11's own types, which it holds
class __attribute__((visibility("hidden"))) PythonRuntime final : public Interpreter {
 public:
  PythonRuntime(const PythonSettings& settings, InterpreterHost& host)
      : settings_(settings), binding_{&host} {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 1;  // SIGINT -> KeyboardInterrupt, as in python3
    config.parse_argv = 0;
    PyStatus status =
        PyConfig_SetBytesString(&config, &config.program_name, settings.interpreter.c_str());
    if (PyStatus_Exception(status)) {
      PyConfig_Clear(&config);
      throw std::runtime_error(std::string("Python config: ") +
                               (status.err_msg != nullptr ? status.err_msg : "program_name"));
    }
    const char* argv[] = {"ipengine"};
    // scoped_interpreter clears the config and throws std::runtime_error on a failed status
    guard_ = std::make_unique<py::scoped_interpreter>(&config, 1, argv, false);
    try {
      if (::pipe2(wakeup_, O_NONBLOCK | O_CLOEXEC) == 0) {
        py::module_::import("signal").attr("set_wakeup_fd")(wakeup_[1]);
      } else {
        wakeup_[0] = wakeup_[1] = -1;
      }
      py::module_::import("_ipp_engine");  // registers the Host type
      py::module_ module = load_bridge(settings.executable);
      py::object profile = settings.profile_dir.empty() ? py::object(py::none())
                                                        : py::object(py::str(settings.profile_dir));
      bridge_ = module.attr("Bridge")(
          py::cast(binding_, py::return_value_policy::reference),
          py::arg("engine_uuid") = settings.engine_uuid, py::arg("engine_id") = -1,
          py::arg("use_ipython") = settings.use_ipython,
          py::arg("buffer_threshold") = settings.buffer_threshold,
          py::arg("item_threshold") = settings.item_threshold, py::arg("profile_dir") = profile,
          py::arg("defer_setup") = true);
    } catch (py::error_already_set& e) {
      std::string what = e.what();
      bridge_ = py::object();
      throw std::runtime_error("Python bridge failed to start: " + what);
    }
    release_.emplace();
  }

  ~PythonRuntime() override {
    release_.reset();  // take the GIL back
    try {
      if (wakeup_[1] >= 0) py::module_::import("signal").attr("set_wakeup_fd")(-1);
      bridge_ = py::object();
    } catch (...) {
    }
    guard_.reset();  // finalises the interpreter
    for (int fd : wakeup_) {
      if (fd >= 0) ::close(fd);
    }
  }

  void setup() override {
    py::gil_scoped_acquire gil;
    try {
      bridge_.attr("setup")();
    } catch (py::error_already_set& e) {
      throw std::runtime_error("Python bridge failed to start: " + std::string(e.what()));
    }
  }

  std::optional<MpiWorld> init_mpi() override {
    py::gil_scoped_acquire gil;
    try {
      py::tuple world = bridge_.attr("init_mpi")();
      return MpiWorld{world[0].cast<int>(), world[1].cast<int>()};
    } catch (py::error_already_set& e) {
      throw std::runtime_error("MPI initialisation failed (IPEngine.use_mpi needs mpi4py): " +
                               std::string(e.what()));
    }
  }

  bool has_startup_code(const std::vector<std::string>& exec_lines,
                        const std::vector<std::string>& exec_files,
                        const std::string& startup_dir) override {
    py::gil_scoped_acquire gil;
    try {
      py::object dir =
          startup_dir.empty() ? py::object(py::none()) : py::object(py::str(startup_dir));
      return bridge_.attr("has_startup_code")(exec_lines, exec_files, dir).cast<bool>();
    } catch (py::error_already_set& e) {
      spdlog::warn("Could not look for startup code: {}", e.what());
      return true;  // the safe order: startup code (if any) before the heart
    }
  }

  void start(int engine_id) override {
    py::gil_scoped_acquire gil;
    engine_id_ = engine_id;
    call("start", [&] { bridge_.attr("start")(engine_id, settings_.engine_uuid); });
  }

  std::vector<std::string> run_startup(const std::vector<std::string>& exec_lines,
                                       const std::vector<std::string>& exec_files,
                                       const std::string& startup_dir) override {
    py::gil_scoped_acquire gil;
    std::vector<std::string> failures;
    call("run_startup", [&] {
      py::object dir =
          startup_dir.empty() ? py::object(py::none()) : py::object(py::str(startup_dir));
      failures =
          bridge_.attr("run_startup")(exec_lines, exec_files, dir).cast<std::vector<std::string>>();
    });
    return failures;
  }

  ApplyOutcome apply(const std::string& msg_id, const wire::Frames& buffers) override {
    py::gil_scoped_acquire gil;
    ApplyOutcome out;
    try {
      py::list bufs;
      for (const auto& f : buffers) {
        bufs.append(py::bytes(static_cast<const char*>(f.data()), f.size()));
      }
      py::tuple result = bridge_.attr("apply")(msg_id, bufs);
      out.content = wire::Json::parse(result[0].cast<std::string>());
      for (auto item : result[1]) out.buffers.push_back(to_frame(item));
    } catch (py::error_already_set& e) {
      out.content = error_content(e, engine_id_, settings_.engine_uuid, "apply");
      out.buffers.clear();
      recover();
    }
    return out;
  }

  wire::Json execute(const wire::Json& request_content) override {
    py::gil_scoped_acquire gil;
    try {
      std::string reply = bridge_.attr("execute")(request_content.dump()).cast<std::string>();
      return wire::Json::parse(reply);
    } catch (py::error_already_set& e) {
      wire::Json c = error_content(e, engine_id_, settings_.engine_uuid, "execute");
      c["execution_count"] = 0;
      c["user_expressions"] = wire::Json::object();
      c["payload"] = wire::Json::array();
      recover();
      return c;
    }
  }

  void clear() override {
    py::gil_scoped_acquire gil;
    call("clear", [&] { bridge_.attr("clear")(); });
  }

  wire::Json kernel_info() override {
    py::gil_scoped_acquire gil;
    wire::Json info;
    call("kernel_info",
         [&] { info = wire::Json::parse(bridge_.attr("kernel_info")().cast<std::string>()); });
    return info;
  }

  int signal_fd() const override { return wakeup_[0]; }

  void check_signals() override {
    char buf[64];
    while (wakeup_[0] >= 0 && ::read(wakeup_[0], buf, sizeof buf) > 0) {
    }
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      py::error_already_set e;  // fetches and clears it
      spdlog::warn("Signal raised while idle: {}", e.what());
    }
  }

  void shutdown() override {
    py::gil_scoped_acquire gil;
    call("shutdown", [&] { bridge_.attr("shutdown")(); });
  }

 private:
  template <class F>
  void call(const char* what, F&& fn) {
    try {
      fn();
    } catch (py::error_already_set& e) {
      spdlog::error("Python bridge {} failed: {}", what, e.what());
      recover();
    } catch (const std::exception& e) {
      spdlog::error("Python bridge {} failed: {}", what, e.what());
    }
  }

  // After an exception escaped the bridge: back to the idle signal handler and our streams.
  void recover() {
    try {
      bridge_.attr("_end_task")();
    } catch (py::error_already_set& e) {
      spdlog::error("Python bridge could not restore its idle state: {}", e.what());
    }
  }

  PythonSettings settings_;
  HostBinding binding_;
  std::unique_ptr<py::scoped_interpreter> guard_;
  py::object bridge_;
  std::optional<py::gil_scoped_release> release_;
  int wakeup_[2] = {-1, -1};
  int engine_id_ = -1;
};

}  // namespace python

std::unique_ptr<Interpreter> make_python_interpreter(const PythonSettings& settings,
                                                     InterpreterHost& host) {
  return std::make_unique<python::PythonRuntime>(settings, host);
}

}  // namespace ipp::engine
