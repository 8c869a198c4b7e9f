#pragma once
// The controller's HTTP status endpoint (off by default; `ipcontroller --status-port=PORT`):
// `/metrics` (Prometheus text), `/api/status` (JSON) and `/` (the dashboard page), served by
// cpp-httplib on a thread of its own ("status"). Each request asks the hub's thread for a fresh
// snapshot (StatusCollector) and waits for it; nothing here touches the controller's state.
//
// A token is required when the endpoint binds beyond loopback: `Authorization: token <T>` or
// `?token=<T>`; without it a request gets 401. On loopback a configured token is required too.
#include "status_snapshot.hpp"

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace ipp::controller::status {

struct StatusServerOptions {
  std::string ip = "127.0.0.1";
  int port = 0;       // 0: any free port
  std::string token;  // empty: none (only allowed on loopback)
};

// Whether `ip` is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& ip);

class StatusServer {
 public:
  // Gathers a snapshot and hands it to the callback (on any thread); the server waits up to a
  // few seconds for it.
  using Gather = std::function<void(std::function<void(StatusSnapshot)>)>;

  // Binds at once (a port in use is a ConfigError naming it); serves from start().
  StatusServer(StatusServerOptions options, Gather gather);
  ~StatusServer();  // stops and joins
  void start();
  void stop();
  int port() const { return port_; }
  const std::string& token() const { return options_.token; }
  // The dashboard's address, with the token when there is one.
  std::string url() const;

 private:
  StatusServerOptions options_;
  Gather gather_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace ipp::controller::status
