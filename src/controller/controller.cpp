// Wiring of one ipcontroller process: binds every socket, writes the connection files, starts
// the relay and task threads and runs the hub on the calling thread.
#include <ipp/config/connection_info.hpp>
#include <ipp/config/error.hpp>
#include <ipp/controller/controller.hpp>
#include <ipp/controller/db/memory_task_db.hpp>
#include <ipp/controller/db/no_task_db.hpp>
#include <ipp/controller/db/sqlite_task_db.hpp>
#include <ipp/controller/db/tiered_task_db.hpp>
#include <ipp/controller/sched/policies.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/net/reactor.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/util/log.hpp>

#include <csignal>
#include <random>
#include <thread>

#include "curve_keys.hpp"
#include "hub/hub.hpp"
#include "service/handshake_monitor.hpp"
#include "service/relays.hpp"
#include "service/task_service.hpp"
#include "status/collector.hpp"
#include "status/status_server.hpp"

namespace ipp::controller {

namespace {

using config::ConfigError;

std::string random_key() {
  std::random_device rd;  // the kernel's CSPRNG on Linux
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key;
  for (int i = 0; i < 32; ++i) {
    if (i == 8) key.push_back('-');
    key.push_back(kHex[rd() & 0xf]);
  }
  return key;
}

// Hands out ports from the configured pool, then lets the kernel pick (":*").
class PortPool {
 public:
  explicit PortPool(std::vector<int> ports) : ports_(std::move(ports)) {}
  std::string next() {
    if (i_ < ports_.size()) return std::to_string(ports_[i_++]);
    return "*";
  }

 private:
  std::vector<int> ports_;
  std::size_t i_ = 0;
};

struct Binder {
  zmq::context_t& ctx;
  std::string transport;
  std::string bind_ip;
  const std::optional<net::CurveKeyPair>& curve;  // every bound socket is a CURVE server

  zmq::socket_t bind(zmq::socket_type type, const std::string& port, const char* what,
                     const std::string& identity = "") {
    zmq::socket_t s(ctx, type);
    s.set(zmq::sockopt::linger, 0);
    if (type == zmq::socket_type::router || type == zmq::socket_type::dealer ||
        type == zmq::socket_type::pub || type == zmq::socket_type::sub) {
      s.set(zmq::sockopt::sndhwm, 0);
      s.set(zmq::sockopt::rcvhwm, 0);
    }
    if (!identity.empty()) s.set(zmq::sockopt::routing_id, identity);
    if (curve) net::set_curve_server(s, *curve);
    std::string ep = transport + "://" + bind_ip + ":" + port;
    try {
      s.bind(ep);
    } catch (const zmq::error_t& e) {
      throw ConfigError("cannot bind the " + std::string(what) + " socket to " + ep + ": " +
                        e.what());
    }
    return s;
  }
};

std::string bind_ip_of(const std::string& ip) {
  if (ip.empty() || ip == "0.0.0.0" || ip == "*") return "*";
  return ip;
}

}  // namespace

int run_controller(const ControllerOptions& opt) {
  auto log = log::get("IPController");
  // Hold SIGINT/SIGTERM from the start: one that arrives after the connection files exist but
  // before the reactor listens must still shut down cleanly (and remove the files).
  {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  }
  zmq::context_t ctx(1);

  const auto client_path = opt.profile.client_file(opt.cluster_id);
  const auto engine_path = opt.profile.engine_file(opt.cluster_id);

  // --reuse: take key, ports and addresses from existing files when they agree.
  std::optional<config::ConnectionInfo> old_client, old_engine;
  if (opt.reuse_files && std::filesystem::exists(client_path) &&
      std::filesystem::exists(engine_path)) {
    try {
      old_client = config::read_connection_file(client_path, config::ConnectionKind::Client);
      old_engine = config::read_connection_file(engine_path, config::ConnectionKind::Engine);
      if (old_client->key != old_engine->key ||
          old_client->registration != old_engine->registration ||
          old_client->signature_scheme != old_engine->signature_scheme) {
        log->warn("connection files disagree; writing new ones");
        old_client.reset();
        old_engine.reset();
      } else {
        log->info("Reusing connection files {} and {}", client_path.string(),
                  engine_path.string());
      }
    } catch (const std::exception& e) {
      log->warn("cannot reuse connection files: {}; writing new ones", e.what());
      old_client.reset();
      old_engine.reset();
    }
  }

  // CurveZMQ: the key pair, and whether reused files still fit it (curve_keys.hpp).
  if (opt.enable_curve) net::require_curve("IPController.enable_curve");
  const auto curve_key_path = opt.profile.curve_key_file(opt.cluster_id);
  CurveKeyInputs curve_in;
  curve_in.enabled = opt.enable_curve;
  curve_in.configured_public = opt.curve_publickey;
  curve_in.configured_secret = opt.curve_secretkey;
  curve_in.reusing = old_client.has_value();
  if (old_client) curve_in.reused_serverkey = old_client->curve_serverkey;
  if (opt.enable_curve && old_client) curve_in.saved = read_curve_key_file(curve_key_path);
  const CurveKeyChoice curve = choose_curve_keys(curve_in);
  for (const auto& w : curve.warnings) log->warn("{}", w);
  // Without an explicit Session.key, CurveZMQ replaces HMAC signing (Python's enable_curve sets
  // Session.key = b'' unless configured).
  const std::string key = old_client ? old_client->key
                                     : (opt.key ? *opt.key : (curve.keys ? "" : random_key()));
  const bool write_files = !old_client || curve.rewrite_files;
  if (curve.keys) {
    log->info("Using CurveZMQ security ({} key pair, public key {}); message signing is {}",
              curve.generated ? "new" : (curve.from_key_file ? "saved" : "configured"),
              curve.keys->public_key, key.empty() ? "off" : "on");
  }
  const std::string location = opt.location.empty() ? host_name() : opt.location;
  Binder binder{ctx, opt.transport, bind_ip_of(opt.ip), curve.keys};
  PortPool pool(opt.ports);
  auto port = [&](int reused) { return reused > 0 ? std::to_string(reused) : pool.next(); };
  const int leaves = 1 << std::max(0, opt.broadcast_depth);

  // Engine-facing sockets, in Python's port order.
  auto registration =
      binder.bind(zmq::socket_type::router, port(old_engine ? old_engine->registration : 0),
                  "registration");
  auto control_out = binder.bind(zmq::socket_type::router,
                                 port(old_engine ? old_engine->control : 0), "engine control",
                                 "control_out");
  auto mux_out = binder.bind(zmq::socket_type::router, port(old_engine ? old_engine->mux : 0),
                             "engine mux", "mux_out");
  bool pure = opt.scheme == "pure";
  auto task_out = binder.bind(pure ? zmq::socket_type::dealer : zmq::socket_type::router,
                              port(old_engine ? old_engine->task : 0), "engine task", "task_out");
  auto iopub_in = binder.bind(zmq::socket_type::sub, port(old_engine ? old_engine->iopub : 0),
                              "engine iopub");
  iopub_in.set(zmq::sockopt::subscribe, "");
  auto hb_ping = binder.bind(zmq::socket_type::pub, port(old_engine ? old_engine->hb_ping : 0),
                             "heartbeat ping");
  auto hb_pong = binder.bind(zmq::socket_type::router, port(old_engine ? old_engine->hb_pong : 0),
                             "heartbeat pong");
  // The hub learns from hb_pong's monitor when an engine's heartbeat connection closes: the
  // engine process exited (its kernel closed the connection), so it is gone at once.
  // Its handshake events also go to the HandshakeMonitor, through the hub.
  constexpr const char* kHeartConnections = "inproc://ipp-heart-connections";
  if (zmq_socket_monitor(hb_pong.handle(), kHeartConnections,
                         ZMQ_EVENT_DISCONNECTED | service::HandshakeMonitor::kEvents) != 0) {
    throw ConfigError(std::string("cannot watch the heartbeat connections: ") +
                      zmq_strerror(zmq_errno()));
  }
  zmq::socket_t hb_events(ctx, zmq::socket_type::pair);
  hb_events.connect(kHeartConnections);
  std::vector<zmq::socket_t> bcast_leaves;
  for (int i = 0; i < leaves; ++i) {
    int reused = (old_engine && static_cast<int>(old_engine->broadcast.size()) > i)
                     ? old_engine->broadcast[static_cast<std::size_t>(i)]
                     : 0;
    bcast_leaves.push_back(binder.bind(zmq::socket_type::router, port(reused),
                                       "engine broadcast",
                                       "sub_scheduler_0" + std::to_string(i)));
  }
  // Client-facing sockets.
  auto control_in = binder.bind(zmq::socket_type::router,
                                port(old_client ? old_client->control : 0), "client control",
                                "control_in");
  auto mux_in = binder.bind(zmq::socket_type::router, port(old_client ? old_client->mux : 0),
                            "client mux", "mux_in");
  auto task_in = binder.bind(zmq::socket_type::router, port(old_client ? old_client->task : 0),
                             "client task", "task_in");
  auto iopub_out = binder.bind(zmq::socket_type::pub, port(old_client ? old_client->iopub : 0),
                               "client iopub");
  // XPUB, so the hub sees each client subscribe and can replay the registrations it might
  // have missed (see Hub::on_subscription).
  auto notification = binder.bind(zmq::socket_type::xpub,
                                  port(old_client ? old_client->notification : 0),
                                  "notification");
  notification.set(zmq::sockopt::xpub_verbose, 1);
  notification.set(zmq::sockopt::sndhwm, 0);
  auto bcast_root = binder.bind(
      zmq::socket_type::router,
      port(old_client && !old_client->broadcast.empty() ? old_client->broadcast[0] : 0),
      "client broadcast", "sub_scheduler_0");

  for (auto* s : {&control_out, &mux_out, &task_out}) {
    if (s->get(zmq::sockopt::type) == ZMQ_ROUTER) s->set(zmq::sockopt::router_mandatory, 1);
  }
  for (auto& s : bcast_leaves) s.set(zmq::sockopt::router_mandatory, 1);

  // Peers whose handshake fails (no CurveZMQ, or the wrong server key) are named in the log.
  service::HandshakeMonitor handshakes(ctx, curve.keys.has_value());
  handshakes.watch(registration, "registration");
  handshakes.watch(control_out, "engine control");
  handshakes.watch(mux_out, "engine mux");
  handshakes.watch(task_out, "engine task");
  handshakes.watch(iopub_in, "engine iopub");
  handshakes.watch(hb_ping, "heartbeat ping");
  const std::size_t hb_pong_watch = handshakes.add_external("heartbeat pong");
  for (auto& leaf : bcast_leaves) handshakes.watch(leaf, "engine broadcast");
  handshakes.watch(control_in, "client control");
  handshakes.watch(mux_in, "client mux");
  handshakes.watch(task_in, "client task");
  handshakes.watch(iopub_out, "client iopub");
  handshakes.watch(notification, "notification");
  handshakes.watch(bcast_root, "client broadcast");

  // Internal plumbing.
  zmq::socket_t monitor_pull(ctx, zmq::socket_type::pull);
  // Bounded (with blocking sends on the PUSH side): memory stays flat when clients submit faster
  // than the hub records.
  constexpr int kMonitorHwm = 10000;
  monitor_pull.set(zmq::sockopt::rcvhwm, kMonitorHwm);
  monitor_pull.bind("inproc://ipp-monitor");
  auto make_push = [&](const char* ep) {
    zmq::socket_t s(ctx, zmq::socket_type::push);
    s.set(zmq::sockopt::sndhwm, kMonitorHwm);
    s.set(zmq::sockopt::linger, 0);
    s.connect(ep);
    return s;
  };
  zmq::socket_t relay_monitor = make_push("inproc://ipp-monitor");
  zmq::socket_t task_monitor = make_push("inproc://ipp-monitor");
  zmq::socket_t sched_events_push(ctx, zmq::socket_type::push);
  sched_events_push.set(zmq::sockopt::sndhwm, 0);
  sched_events_push.set(zmq::sockopt::linger, 0);
  sched_events_push.bind("inproc://ipp-sched-events");
  zmq::socket_t sched_events_pull(ctx, zmq::socket_type::pull);
  sched_events_pull.connect("inproc://ipp-sched-events");
  zmq::socket_t resubmit(ctx, zmq::socket_type::dealer);
  resubmit.set(zmq::sockopt::linger, 0);
  if (curve.keys) {
    // a client of its own task port, with its own key pair (as Python's controller connects)
    net::set_curve_client(resubmit, net::CurveClientKeys{curve.keys->public_key, *curve.keys});
  }
  resubmit.connect("tcp://127.0.0.1:" + std::to_string(net::bound_port(task_in)));

  // Connection files.
  const std::string interface = opt.transport + "://" + opt.ip;
  config::ConnectionInfo client;
  client.kind = config::ConnectionKind::Client;
  client.ssh = opt.ssh_server;
  client.interface = interface;
  client.registration = net::bound_port(registration);
  client.control = net::bound_port(control_in);
  client.mux = net::bound_port(mux_in);
  client.task = net::bound_port(task_in);
  client.task_scheme = opt.scheme;
  client.iopub = net::bound_port(iopub_out);
  client.notification = net::bound_port(notification);
  client.broadcast = {net::bound_port(bcast_root)};
  client.key = key;
  if (curve.keys) client.curve_serverkey = curve.keys->public_key;
  client.location = location;
  client.signature_scheme = opt.signature_scheme;

  config::ConnectionInfo engine;
  engine.kind = config::ConnectionKind::Engine;
  engine.ssh = opt.engine_ssh_server;
  engine.interface = interface;
  engine.registration = client.registration;
  engine.control = net::bound_port(control_out);
  engine.mux = net::bound_port(mux_out);
  engine.task = net::bound_port(task_out);
  engine.iopub = net::bound_port(iopub_in);
  engine.hb_ping = net::bound_port(hb_ping);
  engine.hb_pong = net::bound_port(hb_pong);
  for (auto& s : bcast_leaves) engine.broadcast.push_back(net::bound_port(s));
  engine.key = key;
  engine.curve_serverkey = client.curve_serverkey;
  engine.location = location;
  engine.signature_scheme = opt.signature_scheme;

  if (curve.generated) write_curve_key_file(curve_key_path, *curve.keys);
  if (write_files) {
    config::write_connection_file(client_path, client);
    config::write_connection_file(engine_path, engine);
  }
  log->info("Saved connection files {} and {}", client_path.string(), engine_path.string());

  // Record store.
  std::unique_ptr<db::TaskDb> store;
  std::string db_dir = opt.db_dir.empty() ? opt.profile.location().string() : opt.db_dir;
  switch (opt.db) {
    case DbKind::None: store = std::make_unique<db::NoTaskDb>(); break;
    case DbKind::Sqlite: {
      db::SqliteTaskDb::Options o;
      o.directory = db_dir;
      store = std::make_unique<db::SqliteTaskDb>(o);
      break;
    }
    case DbKind::Memory: {
      db::MemoryTaskDb::Options o;
      o.record_limit = opt.record_limit;
      store = std::make_unique<db::MemoryTaskDb>(o);
      break;
    }
  }

  wire::SessionConfig session{key, opt.signature_scheme, "", ""};
  auto engine_info = engine.to_json();
  wire::Json connection_info = wire::Json::object();
  for (const char* k : {"interface", "registration", "control", "mux", "task", "iopub", "hb_ping",
                        "hb_pong", "broadcast"}) {
    connection_info[k] = engine_info[k];
  }

  hub::HubOptions hub_options;
  hub_options.session = session;
  hub_options.ping_ms = opt.ping_ms;
  hub_options.max_misses = opt.max_heartmonitor_misses;
  hub_options.engine_connection_info = connection_info;
  hub_options.engine_state_file = opt.profile.engine_state_file(opt.cluster_id);
  hub_options.restore = opt.restore_engines;
  hub_options.on_heart_connection_event = [&handshakes, hb_pong_watch](const net::SocketEvent& e) {
    handshakes.feed(hb_pong_watch, e);
  };
  hub::Hub hub(hub::HubSockets{std::move(registration), std::move(notification),
                               std::move(monitor_pull), std::move(hb_ping), std::move(hb_pong), std::move(hb_events),
                               std::move(resubmit), std::move(sched_events_push)},
               hub_options, std::move(store));

  // Relay thread: mux, control, IOPub and broadcast.
  net::Reactor relay_reactor("relay");
  service::QueueRelay mux("mux", std::move(mux_in), std::move(mux_out), relay_monitor, "in", "out",
                          session);
  service::QueueRelay control("control", std::move(control_in), std::move(control_out),
                              relay_monitor, "incontrol", "outcontrol", session);
  service::IopubRelay iopub(std::move(iopub_in), std::move(iopub_out), relay_monitor, session);
  service::BroadcastScheduler broadcast(std::move(bcast_root), std::move(bcast_leaves), session);
  mux.attach(relay_reactor);
  control.attach(relay_reactor);
  iopub.attach(relay_reactor);
  broadcast.attach(relay_reactor);

  // Task thread.
  net::Reactor task_reactor("task");
  std::optional<sched::TaskScheduler::Options> sched_options;
  if (!pure) {
    auto scheme = sched::parse_scheme(opt.scheme);
    if (!scheme) throw ConfigError("TaskScheduler.scheme_name: unknown scheme '" + opt.scheme + "'");
    sched_options.emplace();
    sched_options->scheme = *scheme;
    sched_options->hwm = opt.hwm;
  }
  service::TaskService task(std::move(task_in), std::move(task_out), std::move(task_monitor),
                            std::move(sched_events_pull), session, sched_options);
  task.keep_client_routes(opt.profile.task_clients_file(opt.cluster_id), opt.restore_engines);
  task.attach(task_reactor);

  net::Reactor main_reactor("hub");
  hub.attach(main_reactor);

  // Status: the snapshot for status_request and, when asked for, the HTTP endpoint.
  status::StatusCollector collector(
      main_reactor, [&hub](status::StatusSnapshot& s) { hub.fill_status(s); },
      {{&relay_reactor,
        [&](status::StatusSnapshot& s) {
          mux.add_status(s);
          control.add_status(s);
          iopub.add_status(s);
          broadcast.add_status(s);
        }},
       {&task_reactor, [&task](status::StatusSnapshot& s) { task.add_status(s); }}},
      {opt.cluster_id, opt.profile.location().string()});
  hub.gather_status = [&collector](std::function<void(status::StatusSnapshot)> done) {
    collector.collect(std::move(done));
  };
  hub.on_adapt_report = [&collector](wire::Json a) { collector.set_adaptive(std::move(a)); };
  std::unique_ptr<status::StatusServer> status_server;
  const auto status_path = opt.profile.security() /
      ("ipcontroller" + (opt.cluster_id.empty() ? "" : "-" + opt.cluster_id) + "-status.json");
  if (opt.status_port) {
    status::StatusServerOptions so{opt.status_ip == "*" ? "0.0.0.0" : opt.status_ip,
                                   *opt.status_port, opt.status_token};
    if (so.token.empty() && !status::is_loopback(so.ip)) so.token = new_id() + new_id();
    status_server = std::make_unique<status::StatusServer>(
        so, [&collector](std::function<void(status::StatusSnapshot)> done) {
          collector.collect(std::move(done));
        });
    wire::Json info{{"url", status_server->url()},
                    {"ip", so.ip},
                    {"port", status_server->port()},
                    {"token", so.token},
                    {"pid", static_cast<int>(::getpid())}};
    config::write_file_atomic(status_path, info.dump(2) + "\n",
                              std::filesystem::perms::owner_read |
                                  std::filesystem::perms::owner_write);
    log->info("Status page at {} (metrics at /metrics)", status_server->url());
  }
  handshakes.attach(main_reactor);
  bool stopped_by_signal = false;
  auto stop_all = [&] { main_reactor.stop(); };
  hub.on_shutdown = stop_all;
  for (int sig : {SIGINT, SIGTERM}) {
    main_reactor.on_signal(sig, [&, sig](int) {
      log->info("Received signal {}, shutting down", sig);
      stopped_by_signal = true;
      stop_all();
    });
  }
  std::signal(SIGPIPE, SIG_IGN);

  // Sockets were created and bound on this thread; starting a thread is the full memory barrier
  // libzmq asks for when a socket changes threads.
  std::thread relay_thread([&] { relay_reactor.run(); });
  std::thread task_thread([&] { task_reactor.run(); });
  log->info("ipcontroller ready: registration on {}:{} (scheme {}, {} broadcast leaves)",
            interface, client.registration, opt.scheme, leaves);

  if (status_server) status_server->start();
  main_reactor.run();

  if (status_server) {
    status_server->stop();
    std::error_code ec;
    std::filesystem::remove(status_path, ec);
  }
  relay_reactor.stop();
  task_reactor.stop();
  relay_thread.join();
  task_thread.join();
  if (!opt.reuse_files) {
    std::error_code ec;
    std::filesystem::remove(client_path, ec);
    std::filesystem::remove(engine_path, ec);
    if (curve.generated) std::filesystem::remove(curve_key_path, ec);
  }
  (void)stopped_by_signal;
  return 0;
}

}  // namespace ipp::controller
