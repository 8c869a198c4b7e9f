#include <ipp/engine/engine.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/util/log.hpp>
#include <ipp/wire/msg_types.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <utility>

namespace ipp::engine {

using wire::Json;
namespace msg = wire::msg;

namespace {

int g_sigterm_fd = -1;

extern "C" void on_sigterm(int) {
  int saved = errno;
  std::uint64_t one = 1;
  if (g_sigterm_fd >= 0) [[maybe_unused]]
    auto n = ::write(g_sigterm_fd, &one, sizeof one);
  errno = saved;
}

bool recv_frames(zmq::socket_t& socket, wire::Frames& out) {
  return net::recv_frames(socket, out, /*dontwait=*/true);
}

void send_frames(zmq::socket_t& socket, wire::Frames&& frames) {
  (void)net::send_frames(socket, std::move(frames), /*block=*/true);
}

std::string url_of(const config::ConnectionInfo& info, int port) { return info.url(port); }

}  // namespace

int install_sigterm_fd() {
  if (g_sigterm_fd >= 0) return g_sigterm_fd;
  g_sigterm_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  return g_sigterm_fd;
}

Engine::Engine(EngineConfig config, InterpreterFactory make_interpreter)
    : config_(std::move(config)),
      make_interpreter_(std::move(make_interpreter)),
      ids_(config_.session.session_id),
      main_thread_(pthread_self()) {
  identity_.uuid = config_.session.session_id;
}

Engine::~Engine() {
  if (control_thread_.joinable()) {
    control_.stop();
    control_thread_.join();
  }
  if (exit_thread_.joinable()) exit_thread_.join();
}

// ---------------------------------------------------------------------------------- run
int Engine::run() {
  main_thread_ = pthread_self();
  int term_fd = install_sigterm_fd();
  control_thread_ = std::thread([this, term_fd] {
    block_sigint_in_this_thread();
    control_.add_fd(term_fd, [this, term_fd] {
      std::uint64_t n;
      [[maybe_unused]] auto r = ::read(term_fd, &n, sizeof n);
      spdlog::critical("received signal {}, stopping", SIGTERM);
      request_exit(0, "SIGTERM");
    });
    control_main();
  });

  session_ = std::make_unique<wire::Session>(config_.session);
  if (config_.use_mpi) join_mpi_world();
  registration_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  registration_->set(zmq::sockopt::routing_id, identity_.uuid);
  registration_->set(zmq::sockopt::linger, 1000);
  net::set_curve_client(*registration_, config_.curve);
  watch_registration_handshake();
  registration_->connect(url_of(config_.connection, config_.connection.registration));
  main_.add(*registration_, [this] { on_registration_reply(); });
  if (!exit_requested_) start_registration();

  main_.post([this] { prepare_interpreter(); });
  main_.run();
  teardown();
  return exit_code_.load();
}

std::chrono::milliseconds registration_delay(const EngineConfig& config) {
  if (!config.use_mpi || !config.requested_id || *config.requested_id < 100 ||
      config.mpi_registration_delay_s <= 0) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(*config.requested_id * config.mpi_registration_delay_s));
}

void Engine::join_mpi_world() {
  // Python's engine initialises MPI before it registers (IPEngine.register reads IPEngine.id,
  // whose default imports mpi4py, and the import calls MPI_Init). MPI_Init returns once every rank
  // has reached it, so the ranks then register together; initialised later, in the init_mpi
  // startup line, a rank would sit registered but without a heartbeat (startup code runs before
  // the heart starts) waiting for slower ranks while the hub's registration timeout runs.
  // libmpi's plugins need libmpi's symbols global; mpi4py re-opens libmpi RTLD_GLOBAL itself.
  prepare_interpreter();
  if (!interpreter_) return;
  std::optional<MpiWorld> world;
  try {
    world = interpreter_->init_mpi();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    request_exit(1, "MPI initialisation failed", false);
    return;
  }
  if (!world) {
    spdlog::warn("IPEngine.use_mpi: this interpreter has no MPI binding; MPI is not initialised");
    return;
  }
  spdlog::debug("MPI rank = {} (COMM_WORLD size {})", world->rank, world->size);
  // as Python: a configured IPEngine.id wins; a single rank requests no id
  if (!config_.requested_id && world->size > 1) config_.requested_id = world->rank;
}

void Engine::start_registration() {
  auto delay = registration_delay(config_);
  if (delay.count() == 0) {
    send_registration();
    return;
  }
  // mpiexec starts every rank at once; Python's engine staggers them itself (IPEngine.register)
  spdlog::info("Delaying registration for {} by {}ms", *config_.requested_id, delay.count());
  main_.call_later(delay, [this] {
    if (!exit_requested_) send_registration();
  });
}

void Engine::watch_registration_handshake() {
  const std::string ep = "inproc://ipp-registration-handshake";
  constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | net::kHandshakeFailureEvents;
  if (zmq_socket_monitor(registration_->handle(), ep.c_str(), kEvents) != 0) {
    spdlog::warn("Cannot watch the registration handshake: {}", zmq_strerror(zmq_errno()));
    return;
  }
  registration_events_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
  registration_events_->set(zmq::sockopt::linger, 0);
  registration_events_->connect(ep);
  handshake_check_ = std::make_unique<HandshakeCheck>(
      url_of(config_.connection, config_.connection.registration), config_.curve.has_value(),
      !config_.tunnel_server.empty());
  main_.add(*registration_events_, [this] { on_registration_handshake(); });
}

void Engine::on_registration_handshake() {
  wire::Frames frames;
  while (registration_events_ && net::recv_frames(*registration_events_, frames)) {
    auto e = net::decode_socket_event(frames);
    if (!e || registered_ || exit_requested_) continue;
    spdlog::debug("registration socket: {}", net::is_handshake_failure(*e)
                                                 ? net::describe_handshake_failure(*e)
                                                 : std::string("handshake succeeded"));
    if (auto fatal = handshake_check_->on_event(*e)) {
      main_.cancel(registration_timer_);
      spdlog::critical("{}", *fatal);
      request_exit(255, "handshake failed", false);
      return;
    }
  }
}

void Engine::stop_registration_watch() {
  if (!registration_events_) return;
  main_.remove(*registration_events_);
  zmq_socket_monitor(registration_->handle(), nullptr, 0);
  registration_events_.reset();
  handshake_check_.reset();
}

void Engine::send_registration() {
  spdlog::info("Registering with controller at {}",
               url_of(config_.connection, config_.connection.registration));
  Json content = Json{{"uuid", identity_.uuid}};
  if (config_.requested_id) {
    spdlog::info("Requesting id: {}", *config_.requested_id);
    content["id"] = *config_.requested_id;
  }
  wire::Message m =
      make_message(*session_, ids_, msg::kRegistrationRequest, std::move(content), Json::object());
  send_frames(*registration_, session_->serialize(std::move(m)));
  registration_sent_ = std::chrono::steady_clock::now();
  auto limit = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(config_.timeout_s));
  registration_timer_ = main_.call_later(limit, [this] { on_registration_timeout(); });
}

void Engine::send_unregistration(zmq::socket_t& socket, wire::Session& session) {
  if (unregistered_.exchange(true)) return;
  Json content = Json::object();
  if (identity_.id >= 0) {
    content["id"] = identity_.id;
  } else if (config_.requested_id) {
    content["id"] = *config_.requested_id;
  } else {
    content["id"] = nullptr;
  }
  wire::Message m =
      make_message(session, ids_, msg::kUnregistrationRequest, std::move(content), Json::object());
  try {
    send_frames(socket, session.serialize(std::move(m)));
  } catch (const std::exception& e) {
    spdlog::error("Could not send unregistration_request: {}", e.what());
  }
}

void Engine::on_registration_reply() {
  wire::Frames frames;
  while (recv_frames(*registration_, frames)) {
    if (registered_) continue;  // the hub never sends more; ignore anything unexpected
    auto decoded = session_->deserialize(std::move(frames));
    if (!decoded) {
      spdlog::error("Invalid registration reply: {}", decoded.error().what());
      continue;
    }
    wire::Message& reply = decoded.value();
    if (reply.msg_type() != msg::kRegistrationReply) {
      spdlog::warn("Unexpected message on the registration socket: {}",
                   log::printable(reply.msg_type()));
      continue;
    }
    main_.cancel(registration_timer_);
    stop_registration_watch();
    if (reply.content.value("status", std::string()) != "ok") {
      spdlog::critical("Registration Failed: {}", reply.content.dump());
      request_exit(255, "registration failed", false);
      return;
    }
    try {
      complete_registration(reply.content);
    } catch (const std::exception& e) {
      spdlog::critical("Error completing registration: {}", e.what());
      request_exit(255, "registration failed");
    }
  }
}

void Engine::on_registration_timeout() {
  // The reply may have arrived while the main thread was busy starting the interpreter: only a
  // reply that is really missing counts.
  on_registration_reply();
  if (registered_ || exit_requested_) return;
  spdlog::critical("Registration timed out after {:.1f} seconds", config_.timeout_s);
  if (!config_.tunnel_server.empty()) {
    spdlog::critical("The registration went through the SSH tunnel via {}: is the controller "
                     "listening on the address its engine file names, as {} sees it?",
                     config_.tunnel_server, config_.tunnel_server);
  } else if (config_.connection.url(config_.connection.registration).find("127.") !=
             std::string::npos) {
    spdlog::critical(
        "\n            If the controller and engines are not on the same machine,\n"
        "            you will have to instruct the controller to listen on an external IP (in "
        "ipcontroller_config.py):\n"
        "                c.IPController.ip = '0.0.0.0' # for all interfaces, internal and "
        "external\n"
        "                c.IPController.ip = '192.168.1.101' # or any interface that the engines "
        "can see\n"
        "            or tunnel connections via ssh.\n            ");
  }
  send_unregistration(*registration_, *session_);
  request_exit(255, "registration timed out", false);
}

void Engine::complete_registration(const Json& content) {
  identity_.id = content.at("id").get<int>();
  if (config_.requested_id && *config_.requested_id != identity_.id) {
    spdlog::warn("Did not get the requested id: {} != {}", identity_.id, *config_.requested_id);
  }
  // Python takes ports from the connection file, not from the reply (protocol.md 2.4)
  const auto& info = config_.connection;
  int hb_period = content.value("hb_period", 3000);

  std::vector<std::string> shell_urls = {url_of(info, info.mux), url_of(info, info.task)};
  if (!info.broadcast.empty()) {
    auto n = static_cast<int>(info.broadcast.size());
    shell_urls.push_back(url_of(info, info.broadcast[static_cast<std::size_t>(identity_.id % n)]));
  }
  shell_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::router);
  shell_->set(zmq::sockopt::routing_id, identity_.uuid);
  shell_->set(zmq::sockopt::linger, 1000);
  net::set_curve_client(*shell_, config_.curve);
  for (const auto& url : shell_urls) {
    spdlog::info("Connecting shell to {}", url);
    shell_->connect(url);
  }

  IopubPublisher::Settings pub;
  pub.url = url_of(info, info.iopub);
  pub.session = config_.session;
  pub.engine = identity_;
  pub.curve = config_.curve;
  publisher_ = std::make_unique<IopubPublisher>(context_, pub, ids_);
  publisher_->start();

  Heart::Settings hb;
  hb.ping_url = url_of(info, info.hb_ping);
  hb.pong_url = url_of(info, info.hb_pong);
  hb.identity = identity_.uuid;
  hb.check_period = std::chrono::milliseconds(hb_period + 500);
  hb.max_misses = config_.max_heartbeat_misses;
  hb.curve = config_.curve;
  heart_ = std::make_unique<Heart>(context_, hb, [this] { request_exit(0, "heartbeat lost"); });

  control_.post([this] { connect_control(); });

  registered_ = true;
  main_.add(*shell_, [this] { on_shell_readable(); });
  start_kernel();
}

void Engine::prepare_interpreter() {
  // The interpreter and the imports a request needs (ipyparallel.serialize). It runs while the
  // registration request is on its way, so the round trip to the hub costs nothing extra.
  if (interpreter_ || interpreter_failed_ || exit_requested_) return;
  try {
    interpreter_ = make_interpreter_(*this);
    if (interpreter_->signal_fd() >= 0) {
      main_.add_fd(interpreter_->signal_fd(), [this] { interpreter_->check_signals(); });
    }
  } catch (const std::exception& e) {
    spdlog::critical("Could not start the Python interpreter: {}", e.what());
    interpreter_.reset();
    interpreter_failed_ = true;
    request_exit(1, "interpreter failed");
  }
}

bool Engine::finish_interpreter() {
  // The rest of start-up: the shell, the engine id, startup code. Requests that arrive meanwhile
  // wait in the shell socket and in pending_.
  try {
    interpreter_->setup();
    Json info = interpreter_->kernel_info();
    {
      std::lock_guard lock(info_mutex_);
      kernel_info_ = std::move(info);
      kernel_info_ready_ = true;
    }
    info_cv_.notify_all();
    interpreter_->start(identity_.id);
  } catch (const std::exception& e) {
    spdlog::critical("Could not start the Python interpreter: {}", e.what());
    request_exit(1, "interpreter failed");
    return false;
  }
  shell_handler_ = std::make_unique<ShellHandler>(identity_, *interpreter_, *publisher_, aborts_,
                                                  *session_, ids_);
  interpreter_->run_startup(config_.exec_lines, config_.exec_files, config_.startup_dir);
  return !exit_requested_;
}

void Engine::start_heart() {
  spdlog::info("Completed registration with id {}", identity_.id);
  heart_->start();
}

void Engine::start_kernel() {
  // The hub announces an engine when it answers its first heartbeat. With startup code
  // (exec_lines, exec_files, profile startup files) that code runs first, as in Python's engine,
  // so an engine announced as registered has run it. Without, the heart starts as soon as the
  // interpreter can take requests, and the shell is built after: requests sent in that moment
  // wait in the socket and run in order once it is ready.
  prepare_interpreter();
  if (!interpreter_ || exit_requested_) return;
  const bool startup_first =
      interpreter_->has_startup_code(config_.exec_lines, config_.exec_files, config_.startup_dir);
  if (!startup_first) start_heart();
  if (!finish_interpreter()) return;
  if (startup_first) start_heart();
  if (!pending_.empty() && !process_posted_) {
    process_posted_ = true;
    main_.post([this] { process_next(); });
  }
}

// ------------------------------------------------------------------------------- shell
void Engine::on_shell_readable() {
  wire::Frames frames;
  while (recv_frames(*shell_, frames)) {
    auto raw = session_->authenticate(std::move(frames));
    if (!raw) {
      spdlog::error("Invalid Message: {}", raw.error().what());
      continue;
    }
    auto decoded = session_->parse(std::move(*raw));
    if (!decoded) {
      // signed, with a header to answer: an error reply, so the sender (and a scheduler that
      // counts this engine's tasks) does not wait for good
      spdlog::error("Invalid Message: {}", decoded.error().what());
      wire::Message request;
      for (std::size_t i = 0; i < raw->identity_count(); ++i) {
        request.identities.emplace_back(raw->identity(i));
      }
      request.header_text = wire::view(raw->frames[raw->env.header()]);
      request.header = std::move(raw->header);
      pending_.push_back(Pending{std::move(request), false, decoded.error().what()});
      continue;
    }
    pending_.push_back(Pending{std::move(decoded).value(), false, {}});
  }
  if (!pending_.empty() && !process_posted_ && shell_handler_) {
    process_posted_ = true;
    main_.post([this] { process_next(); });
  }
}

void Engine::abort_queued_executes() {
  // take in what is already waiting on the socket too, as ipykernel flushes its stream first
  wire::Frames frames;
  while (recv_frames(*shell_, frames)) {
    auto decoded = session_->deserialize(std::move(frames));
    if (decoded) pending_.push_back(Pending{std::move(decoded).value(), false, {}});
  }
  for (auto& p : pending_) {
    if (p.message.msg_type() == msg::kExecuteRequest) p.queued_abort = true;
  }
}

void Engine::process_next() {
  process_posted_ = false;
  if (exit_requested_ || !shell_handler_) return;
  if (aborts_.take_abort_queued()) abort_queued_executes();
  if (pending_.empty()) return;
  Pending next = std::move(pending_.front());
  pending_.pop_front();
  if (!next.undecodable.empty()) {
    shell_handler_->refuse(std::move(next.message), next.undecodable,
                           [this](wire::Message&& r) { send_shell(std::move(r)); });
  } else {
    shell_handler_->handle(
        std::move(next.message), [this](wire::Message&& r) { send_shell(std::move(r)); },
        next.queued_abort);
  }
  if (shell_handler_->take_stop_on_error()) abort_queued_executes();
  // one request per reactor turn, so posted work (clear_request, exit) gets its chance
  if (!pending_.empty() && !process_posted_) {
    process_posted_ = true;
    main_.post([this] { process_next(); });
  }
}

void Engine::send_shell(wire::Message&& reply) {
  try {
    send_frames(*shell_, session_->serialize(std::move(reply)));
  } catch (const std::exception& e) {
    spdlog::error("Could not send reply: {}", e.what());
  }
}

// ----------------------------------------------------------------------------- control
void Engine::control_main() {
  control_.run();
  control_handler_.reset();
  control_socket_.reset();
  control_session_.reset();
}

void Engine::connect_control() {
  control_session_ = std::make_unique<wire::Session>(config_.session);
  control_socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::router);
  control_socket_->set(zmq::sockopt::routing_id, identity_.uuid);
  control_socket_->set(zmq::sockopt::linger, 1000);
  net::set_curve_client(*control_socket_, config_.curve);
  std::string url = url_of(config_.connection, config_.connection.control);
  control_socket_->connect(url);
  control_handler_ = std::make_unique<ControlHandler>(identity_, *publisher_, aborts_, *this,
                                                      *control_session_, ids_);
  control_.add(*control_socket_, [this] { on_control_readable(); });
}

void Engine::on_control_readable() {
  wire::Frames frames;
  while (recv_frames(*control_socket_, frames)) {
    auto decoded = control_session_->deserialize(std::move(frames));
    if (!decoded) {
      spdlog::error("Invalid Control Message: {}", decoded.error().what());
      continue;
    }
    control_handler_->handle(std::move(decoded).value(), [this](wire::Message&& r) {
      try {
        send_frames(*control_socket_, control_session_->serialize(std::move(r)));
      } catch (const std::exception& e) {
        spdlog::error("Could not send control reply: {}", e.what());
      }
    });
  }
}

void Engine::clear_namespace(std::function<void()> done) {
  main_.post([this, done = std::move(done)] {
    if (interpreter_ && shell_handler_) interpreter_->clear();
    control_.post(done);
  });
}

Json Engine::kernel_info() {
  // Control thread: a kernel_info_request that arrives while the shell is still being built is
  // answered once it is (or, if start-up stalls, with what is known after 30 s).
  std::unique_lock lock(info_mutex_);
  info_cv_.wait_for(lock, std::chrono::seconds(30),
                    [this] { return kernel_info_ready_ || exit_requested_.load(); });
  return kernel_info_;
}

void Engine::send_signal(int signo) {
  if (signo == SIGINT) {
    // to the interpreter's thread: a running task gets KeyboardInterrupt (its sleep is cut short
    // with EINTR); an idle engine logs and ignores it
    pthread_kill(main_thread_, SIGINT);
  } else {
    ::kill(::getpid(), signo);
  }
}

void Engine::shutdown() { request_exit(0, "shutdown_request"); }

// ---------------------------------------------------------------------- interpreter host
void Engine::stream(std::string_view name, std::string_view text) {
  if (publisher_) publisher_->write_stream(name, text);
}

void Engine::flush_streams() {
  if (publisher_) publisher_->request_flush();
}

void Engine::publish(std::string topic, std::string msg_type, Json content, bool engine_metadata,
                     wire::Frames buffers) {
  if (!publisher_) return;
  Json md = engine_metadata ? Json{{"engine", identity_.uuid}} : Json::object();
  // the parent is the request running now (set by the shell handler)
  publisher_->publish(std::move(topic), std::move(msg_type), std::move(content), Json(nullptr),
                      std::move(md), std::move(buffers));
}

void Engine::log(int level, std::string_view message) {
  auto lvl = level >= 50   ? spdlog::level::critical
             : level >= 40 ? spdlog::level::err
             : level >= 30 ? spdlog::level::warn
             : level >= 20 ? spdlog::level::info
                           : spdlog::level::debug;
  spdlog::log(lvl, "{}", message);
}

// -------------------------------------------------------------------------------- exit
void Engine::request_exit(int code, const std::string& reason, bool unregister) {
  if (exit_requested_.exchange(true)) return;
  {
    std::lock_guard lock(info_mutex_);  // a kernel_info() waiting for start-up gives up
  }
  info_cv_.notify_all();
  exit_code_ = code;
  if (!unregister) unregistered_ = true;
  spdlog::debug("Stopping: {}", reason);
  main_.stop();
  int grace_ms = static_cast<int>(config_.exit_grace_s * 1000);
  exit_thread_ = std::thread([this, grace_ms] { exit_watchdog(grace_ms); });
}

void Engine::exit_watchdog(int grace_ms) {
  block_sigint_in_this_thread();
  std::unique_lock lock(exit_mutex_);
  if (exit_cv_.wait_for(lock, std::chrono::milliseconds(grace_ms), [this] { return torn_down_; })) {
    return;
  }
  lock.unlock();
  spdlog::warn("The engine is still busy {} ms after the stop request; exiting now", grace_ms);
  force_exit();
}

void Engine::force_exit() {
  if (registered_ && !unregistered_) {
    // a fresh socket on this thread: the registration socket belongs to the busy main thread
    try {
      wire::Session session(config_.session);
      zmq::socket_t s(context_, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 1000);
      net::set_curve_client(s, config_.curve);
      s.connect(url_of(config_.connection, config_.connection.registration));
      send_unregistration(s, session);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the frame leave
    } catch (const std::exception& e) {
      spdlog::error("Could not send unregistration_request: {}", e.what());
    }
  }
  spdlog::default_logger()->flush();
  std::_Exit(exit_code_.load());
}

void Engine::teardown() {
  if (!exit_requested_) request_exit(exit_code_.load(), "event loop ended");
  if (interpreter_) interpreter_->shutdown();
  if (publisher_) publisher_->flush_streams_and_wait();
  if (registered_ && !unregistered_ && registration_)
    send_unregistration(*registration_, *session_);
  if (heart_) heart_->stop();
  control_.stop();
  if (control_thread_.joinable()) control_thread_.join();
  if (publisher_) publisher_->stop();
  shell_handler_.reset();
  if (shell_) main_.remove(*shell_);
  if (registration_) main_.remove(*registration_);
  if (registration_) stop_registration_watch();
  shell_.reset();
  registration_.reset();
  interpreter_.reset();  // finalises Python (user atexit handlers, non-daemon threads)
  heart_.reset();
  publisher_.reset();
  context_.close();  // lingering frames (the unregistration, IOPub tail) go out here
  {
    std::lock_guard lock(exit_mutex_);
    torn_down_ = true;
  }
  exit_cv_.notify_all();
  if (exit_thread_.joinable()) exit_thread_.join();
  spdlog::default_logger()->flush();
}

}  // namespace ipp::engine
