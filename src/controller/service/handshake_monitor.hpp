#pragma once
// HandshakeMonitor: watches the controller's bound sockets with libzmq's socket monitor and logs
// a WARNING (rate-limited per port) naming the peer whose handshake failed (HandshakeLog says
// why). Without this a peer that lacks CurveZMQ, or has the wrong server key, is refused
// silently and waits forever.
//
// Sockets are registered with watch() on the controller's main thread before they move to their
// threads (zmq_socket_monitor must run on the socket's thread); the event PAIR sockets stay on
// the hub's reactor. hb_pong's monitor belongs to the hub, which hands its events to feed().
// Lifetime: the controller's run; destroy it before the zmq context.
#include "handshake_log.hpp"

#include <ipp/net/reactor.hpp>
#include <ipp/util/log.hpp>

#include <zmq.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ipp::controller::service {

class HandshakeMonitor {
 public:
  // Events a watched socket's monitor must report.
  static constexpr int kEvents =
      ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | net::kHandshakeFailureEvents;

  HandshakeMonitor(zmq::context_t& ctx, bool curve) : ctx_(ctx), curve_(curve) {}

  // Starts monitoring `socket` (bound, not yet handed to another thread) as `port_name`.
  // Throws std::runtime_error when libzmq refuses.
  void watch(zmq::socket_t& socket, const std::string& port_name);
  // Events of a socket whose monitor someone else reads; returns its index for feed().
  std::size_t add_external(const std::string& port_name);
  void feed(std::size_t index, const net::SocketEvent& e);

  void attach(net::Reactor& reactor);

 private:
  struct Watched {
    std::unique_ptr<zmq::socket_t> events;  // PAIR; null for an external one
    HandshakeLog log;
    log::RateLimit limit;
  };
  void drain(Watched& w);
  void handle(Watched& w, const net::SocketEvent& e);

  zmq::context_t& ctx_;
  bool curve_;
  std::vector<std::unique_ptr<Watched>> watched_;
  std::shared_ptr<spdlog::logger> log_ = log::get("IPController");
};

// "address:port" of the peer of a connected TCP descriptor; "" when it cannot be read.
std::string tcp_peer_of(int fd);

}  // namespace ipp::controller::service
