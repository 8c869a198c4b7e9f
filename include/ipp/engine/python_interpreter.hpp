#pragma once
// The embedded CPython behind the Interpreter interface. pybind11 and libpython stay private to
// src/engine/python; this header names no Python type.
#include <ipp/engine/interpreter.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ipp::engine {

struct PythonSettings {
  std::string interpreter = IPP_PYTHON;  // PyConfig.program_name: sys.prefix and sys.path follow
  std::string engine_uuid;
  bool use_ipython = true;      // false: plain exec (also the automatic fallback without IPython)
  int buffer_threshold = 1024;  // jupyter_client Session.buffer_threshold
  int item_threshold = 64;      // Session.item_threshold
  std::string profile_dir;
  std::string executable;  // this program's path, to find an installed copy of the bridge
};

// Initialises CPython once for the process (on the calling thread, which becomes the only thread
// that runs Python code the engine starts), imports ipp_engine_bridge and creates its Bridge.
// Throws std::runtime_error with the Python error on failure.
std::unique_ptr<Interpreter> make_python_interpreter(const PythonSettings& settings,
                                                     InterpreterHost& host);

// Directories searched for ipp_engine_bridge.py, in order: $IPP_ENGINE_BRIDGE_DIR,
// <exe dir>/../share/ipp/engine, the source tree (development builds). When none has it, the copy
// compiled into the binary is used
// ($IPP_ENGINE_BRIDGE_DIR=:builtin: forces it).
std::vector<std::string> bridge_search_path(const std::string& executable);

}  // namespace ipp::engine
