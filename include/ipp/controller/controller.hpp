#pragma once
// The controller: hub, heartbeat, relays and schedulers of one ipcontroller process.
//
// Threads (see docs/architecture.md): the caller's thread runs the hub and the heart monitor;
// one "relay" thread runs the mux, control and IOPub relays and the broadcast scheduler; one
// "task" thread runs the load-balancing scheduler. All sockets are bound on the caller's thread
// before the others start (so ports are known when the connection files are written) and then
// handed over; each is used by exactly one thread afterwards.
#include <ipp/config/profile_dir.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ipp::controller {

enum class DbKind { Memory, Sqlite, None };

struct ControllerOptions {
  config::ProfileDir profile;
  std::string cluster_id;
  std::string ip = "127.0.0.1";     // IPController.ip ('*' or 0.0.0.0 = all interfaces)
  std::string location;             // IPController.location (default: host name)
  std::string transport = "tcp";
  std::string ssh_server;           // written as "ssh" in the client file
  std::string engine_ssh_server;    // written as "ssh" in the engine file
  std::vector<int> ports;           // IPController.ports pool (empty: random)
  bool reuse_files = false;
  bool restore_engines = false;
  std::string scheme = "leastload";  // TaskScheduler.scheme_name
  int hwm = 1;                       // TaskScheduler.hwm
  int ping_ms = 3000;                // HeartMonitor.period
  int max_heartmonitor_misses = 10;
  int broadcast_depth = 1;           // IPController.broadcast_scheduler_depth
  DbKind db = DbKind::Memory;
  std::string db_dir;                // SQLiteDB.location (default: profile dir)
  std::optional<std::string> key;    // Session.key (default: random, or reused)
  std::string signature_scheme = "hmac-sha256";
  std::size_t record_limit = 1024;   // in-memory records before older ones are culled/spilled
  // CurveZMQ (docs/security.md): IPController.enable_curve or $IPP_ENABLE_CURVE=1. Every bound
  // socket is then a CURVE server; the key pair is configured (IPController.curve_publickey /
  // curve_secretkey or $IPP_CURVE_PUBLICKEY / $IPP_CURVE_SECRETKEY) or generated, and without
  // an explicit Session.key the HMAC key is empty, as in Python.
  bool enable_curve = false;
  std::string curve_publickey;
  std::string curve_secretkey;  // never logged
  // The HTTP status endpoint (docs/monitoring.md): off unless a port is given
  // (IPController.status_port, --status-port; 0 = any free port). Beyond loopback it needs a
  // token (IPController.status_token or $IPP_STATUS_TOKEN; generated when not given).
  std::optional<int> status_port;
  std::string status_ip = "127.0.0.1";
  std::string status_token;  // logged only inside the dashboard URL, as Jupyter does
};

// Binds, writes the connection files and runs until shutdown_request or SIGINT/SIGTERM.
// Returns the process exit status. Throws config::ConfigError for start-up problems (a port that
// cannot be bound, unreadable files), naming the culprit.
int run_controller(const ControllerOptions& options);

}  // namespace ipp::controller
