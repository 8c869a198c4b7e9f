#pragma once
// PortForwarder: local TCP ports on 127.0.0.1 whose connections are carried through one SSH
// session to host:port as the ssh server sees them (`ssh -L 127.0.0.1:lport:host:port server`,
// what zmq.ssh.tunnel's tunnel_connection starts for Python's ipengine), without a subprocess.
//
// The forwards are added on the owner's thread before start(); start() hands the listening
// sockets and the transport to the forwarder's own thread ("tunnel"), which accepts, opens a
// channel per connection and pumps bytes both ways with poll() until stop() (or destruction).
// A connection whose channel cannot be opened (the far port is closed) is closed at once and
// logged, at most every few seconds per target; per-connection lines are DEBUG. If the session
// itself is lost, every connection is closed and `on_lost` is called once on the tunnel thread.
#include <ipp/ssh/forward_transport.hpp>
#include <ipp/util/result.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ipp::ssh {

class PortForwarder {
 public:
  using LostHandler = std::function<void(const std::string& reason)>;

  explicit PortForwarder(std::unique_ptr<ForwardTransport> transport);
  ~PortForwarder();  // stop()
  PortForwarder(const PortForwarder&) = delete;
  PortForwarder& operator=(const PortForwarder&) = delete;

  // Before start(): listens on 127.0.0.1 on an ephemeral port for connections to be forwarded to
  // host:port; returns that local port.
  Result<int> add(const std::string& host, int port);
  void start(LostHandler on_lost = {});
  // Closes every connection and listener and joins the thread. Idempotent.
  void stop();

  const std::string& server() const { return server_; }
  // Counters for tests and diagnostics (any thread).
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t failed_opens() const { return failed_opens_.load(); }

 private:
  struct Forward {
    int fd = -1;
    std::string host;
    int port = 0;
    int local_port = 0;
  };
  class Pump;  // the tunnel thread's state (port_forwarder.cpp)

  std::unique_ptr<ForwardTransport> transport_;
  std::string server_;
  std::vector<Forward> forwards_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> failed_opens_{0};
};

}  // namespace ipp::ssh
