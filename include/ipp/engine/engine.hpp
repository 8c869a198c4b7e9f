#pragma once
// Engine: one ipengine process. Registers with the controller, then serves shell requests on the
// main thread (with the interpreter), control requests on the control thread, IOPub on the IOPub
// thread and the heartbeat on the heart thread (docs: STYLE.md "Threads and event loops").
//
//   main thread    registration DEALER, shell ROUTER (mux, task, broadcast[id % n]), Python
//   control thread control ROUTER (controller's engine control port), SIGTERM
//   iopub thread   IOPub PUB, stream buffering            (IopubPublisher)
//   heart thread   SUB hb_ping -> DEALER hb_pong, watchdog (Heart)
//   tunnel thread  with an ssh server only: the forwards to the controller (ssh::PortForwarder,
//                  owned by main(), outside the Engine; engine/tunnel.hpp)
//
// There is no nanny process: signal_request is answered here (ControlHandler), and the engine
// sends its own unregistration_request on every exit path it survives.
//
// Owned by main(); run() blocks until the engine stops and returns the process exit status.
#include <ipp/config/connection_info.hpp>
#include <ipp/engine/handshake_check.hpp>
#include <ipp/engine/heart.hpp>
#include <ipp/engine/interpreter.hpp>
#include <ipp/engine/iopub.hpp>
#include <ipp/engine/kernel.hpp>
#include <ipp/net/curve.hpp>
#include <ipp/net/reactor.hpp>
#include <ipp/wire/session.hpp>

#include <pthread.h>
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ipp::engine {

struct EngineConfig {
  config::ConnectionInfo connection;       // engine connection info, interface already usable
  std::string tunnel_server;               // the ssh server the connections go through, if any
  wire::SessionConfig session;             // key, scheme, session id (= uuid), username
  // CurveZMQ: the controller's public key and this engine's key pair; every connection uses it
  std::optional<net::CurveClientKeys> curve;
  std::optional<int> requested_id;         // IPEngine.id; with use_mpi and none, the MPI rank
  bool use_mpi = false;                    // IPEngine.use_mpi: MPI_Init before registering
  double mpi_registration_delay_s = 0.02;  // IPEngine.mpi_registration_delay
  double timeout_s = 5.0;                  // IPEngine.timeout: wait for registration_reply
  int max_heartbeat_misses = 50;           // IPEngine.max_heartbeat_misses
  std::vector<std::string> exec_lines;
  std::vector<std::string> exec_files;
  std::string startup_dir;    // <profile>/startup
  double exit_grace_s = 3.0;  // how long a busy interpreter may delay exit before it is forced
};

// How long an engine waits before it registers: with use_mpi, engines with id >= 100 wait
// id * mpi_registration_delay_s so that a large mpiexec does not flood the hub (Python's
// IPEngine.register). Zero otherwise.
std::chrono::milliseconds registration_delay(const EngineConfig& config);

using InterpreterFactory = std::function<std::unique_ptr<Interpreter>(InterpreterHost&)>;

class Engine final : public ControlActions, public InterpreterHost {
 public:
  Engine(EngineConfig config, InterpreterFactory make_interpreter);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int run();

  // Any thread: stop the engine with `code`. The main thread stops after the current request; if
  // it is still busy after exit_grace_s, the process sends its unregistration and exits anyway.
  void request_exit(int code, const std::string& reason, bool unregister = true);

  const std::string& uuid() const { return identity_.uuid; }

 private:
  // main thread
  void join_mpi_world();
  void start_registration();
  // The registration socket's handshake events: a controller that cannot be reached with this
  // engine's CurveZMQ settings stops the engine at once (HandshakeCheck) instead of a timeout.
  void watch_registration_handshake();
  void on_registration_handshake();
  void stop_registration_watch();
  void send_registration();
  void on_registration_reply();
  void on_registration_timeout();
  void complete_registration(const wire::Json& content);
  void prepare_interpreter();
  bool finish_interpreter();
  void start_heart();
  void start_kernel();
  void on_shell_readable();
  void process_next();
  void abort_queued_executes();
  void send_shell(wire::Message&& reply);
  void send_unregistration(zmq::socket_t& socket, wire::Session& session);
  void teardown();
  // control thread
  void control_main();
  void connect_control();
  void on_control_readable();
  // exit path when the main thread cannot finish in time
  void exit_watchdog(int grace_ms);
  [[noreturn]] void force_exit();

  // ControlActions (control thread)
  void clear_namespace(std::function<void()> done) override;
  wire::Json kernel_info() override;
  void send_signal(int signo) override;
  void shutdown() override;

  // InterpreterHost (any thread running Python)
  void stream(std::string_view name, std::string_view text) override;
  void flush_streams() override;
  void publish(std::string topic, std::string msg_type, wire::Json content, bool engine_metadata,
               wire::Frames buffers) override;
  void log(int level, std::string_view message) override;

  EngineConfig config_;
  InterpreterFactory make_interpreter_;
  EngineIdentity identity_;
  MsgIds ids_;
  AbortSet aborts_;
  pthread_t main_thread_{};
  zmq::context_t context_;

  // main thread
  net::Reactor main_{"main"};
  std::unique_ptr<wire::Session> session_;
  std::unique_ptr<zmq::socket_t> registration_;
  std::unique_ptr<zmq::socket_t> registration_events_;  // PAIR: the registration socket's monitor
  std::unique_ptr<HandshakeCheck> handshake_check_;
  std::unique_ptr<zmq::socket_t> shell_;
  std::unique_ptr<Interpreter> interpreter_;
  std::unique_ptr<ShellHandler> shell_handler_;
  struct Pending {
    wire::Message message;
    bool queued_abort = false;
    std::string undecodable;  // why a signed request's parts did not decode: answer an error
  };
  std::deque<Pending> pending_;
  bool process_posted_ = false;
  bool interpreter_failed_ = false;
  std::chrono::steady_clock::time_point registration_sent_{};
  net::Reactor::TimerId registration_timer_ = 0;

  // shared
  std::unique_ptr<IopubPublisher> publisher_;  // set before the control thread uses it
  std::unique_ptr<Heart> heart_;
  std::atomic<bool> registered_{false};
  std::atomic<bool> unregistered_{false};
  std::atomic<bool> exit_requested_{false};
  std::atomic<int> exit_code_{0};
  std::mutex info_mutex_;
  std::condition_variable info_cv_;
  bool kernel_info_ready_ = false;
  wire::Json kernel_info_ = wire::Json::object();

  // control thread
  net::Reactor control_{"control"};
  std::thread control_thread_;
  std::unique_ptr<wire::Session> control_session_;
  std::unique_ptr<zmq::socket_t> control_socket_;
  std::unique_ptr<ControlHandler> control_handler_;

  // exit watchdog
  std::thread exit_thread_;
  std::mutex exit_mutex_;
  std::condition_variable exit_cv_;
  bool torn_down_ = false;
};

// SIGTERM -> a readable eventfd (the handler only writes to it; async-signal-safe). Returns the
// fd. Installed with sigaction, not blocked + signalfd: a blocked signal would stay blocked in
// every process the user's code spawns.
int install_sigterm_fd();

}  // namespace ipp::engine
