#pragma once
// Interpreter: what the engine's kernel needs from the language runtime, and InterpreterHost:
// what the runtime needs from the engine (IOPub output, logging).
//
// The production Interpreter is the embedded CPython with the ipp_engine_bridge module
// (make_python_interpreter); unit tests use fakes. Every Interpreter method is called on the
// engine's main thread; InterpreterHost methods may be called from any thread that runs Python
// (user code may print from its own threads), so implementations only enqueue.
#include <ipp/wire/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::engine {

struct ApplyOutcome {
  wire::Json content = wire::Json::object();  // {"status": "ok"} or ipyparallel error content
  wire::Frames buffers;                       // serialize_object(result) when ok
};

// MPI.COMM_WORLD as the interpreter's MPI binding sees it.
struct MpiWorld {
  int rank = 0;
  int size = 1;
};

class Interpreter {
 public:
  virtual ~Interpreter() = default;

  // IPEngine.use_mpi: initialise MPI in this process (for Python: import mpi4py's MPI, which calls
  // MPI_Init) and return COMM_WORLD. nullopt: this runtime has no MPI binding. Called once, before
  // registration and before setup(); throws std::runtime_error when MPI cannot be initialised.
  virtual std::optional<MpiWorld> init_mpi() { return std::nullopt; }

  // The slow part of start-up that can wait until the engine is registered (for Python: the rest
  // of ipyparallel's package and the IPython shell). Called once, before start(); it may throw.
  virtual void setup() {}
  // Whether run_startup() would run anything (startup files, exec_files, exec_lines). An engine
  // with startup code finishes it before its heart starts, as Python's engine does.
  virtual bool has_startup_code(const std::vector<std::string>& exec_lines,
                                const std::vector<std::string>& exec_files,
                                const std::string& startup_dir) {
    return !exec_lines.empty() || !exec_files.empty() || !startup_dir.empty();
  }
  // Registration completed: the engine id is known; redirect streams, arm signal handling.
  virtual void start(int engine_id) = 0;
  // Profile startup files, exec_files (-s) and exec_lines (-c). Returns one line per failure.
  virtual std::vector<std::string> run_startup(const std::vector<std::string>& exec_lines,
                                               const std::vector<std::string>& exec_files,
                                               const std::string& startup_dir) = 0;

  // apply_request: `buffers` are the request's raw frames after content.
  virtual ApplyOutcome apply(const std::string& msg_id, const wire::Frames& buffers) = 0;
  // execute_request: the request content in, the execute_reply content out.
  virtual wire::Json execute(const wire::Json& request_content) = 0;
  // clear_request: reset the user namespace.
  virtual void clear() = 0;
  // kernel_info_reply content.
  virtual wire::Json kernel_info() = 0;

  // A file descriptor that becomes readable when a signal arrived for the interpreter (CPython's
  // wakeup fd), or -1. The engine polls it while idle and then calls check_signals(), so a SIGINT
  // that arrives between tasks is handled (logged and ignored) right away.
  virtual int signal_fd() const { return -1; }
  virtual void check_signals() {}
  // Before exit: give the process its standard streams back.
  virtual void shutdown() {}
};

// Output side effects of running code. `topic` is the full IOPub topic frame.
class InterpreterHost {
 public:
  virtual ~InterpreterHost() = default;
  virtual void stream(std::string_view name, std::string_view text) = 0;
  virtual void flush_streams() = 0;
  virtual void publish(std::string topic, std::string msg_type, wire::Json content,
                       bool engine_metadata, wire::Frames buffers) = 0;
  // `level` uses Python logging numbers (10 debug ... 50 critical).
  virtual void log(int level, std::string_view message) = 0;
};

}  // namespace ipp::engine
