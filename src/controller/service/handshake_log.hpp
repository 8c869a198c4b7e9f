#pragma once
// HandshakeLog: what one bound socket's monitor events say about peers whose ZMTP handshake
// failed, as a warning naming the peer, the port and the likely cause (a peer without CurveZMQ
// against a CurveZMQ controller, a CurveZMQ peer against a plain one, a wrong server key).
//
// Sans-I/O: libzmq reports, for one accepted connection, ACCEPTED(fd), then the handshake
// failure (which names the socket's own endpoint only), then DISCONNECTED(fd); the peer's address
// is read when ACCEPTED arrives (`peer_of`) and the warning is made at DISCONNECTED.
//
// Owned by HandshakeMonitor on the hub's thread; one per watched socket.
#include <ipp/net/socket_events.hpp>

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

namespace ipp::controller::service {

class HandshakeLog {
 public:
  struct Finding {
    bool warning = true;  // false: worth a DEBUG line only
    std::string text;
  };

  HandshakeLog(std::string port_name, bool curve) : port_(std::move(port_name)), curve_(curve) {}

  // What to log, when `e` closes a connection whose handshake failed. A connection closed
  // mid-handshake is a WARNING only with CurveZMQ on (a peer without it, or with the wrong key,
  // may close first); on a plain controller it is as likely a port probe, worth DEBUG.
  std::optional<Finding> on_event(const net::SocketEvent& e,
                                  const std::function<std::string(int fd)>& peer_of);

  std::size_t open_connections() const { return peers_.size(); }

 private:
  Finding explain(const net::SocketEvent& failure, const std::string& peer,
                  const std::string& endpoint) const;

  std::string port_;
  bool curve_;
  std::unordered_map<int, std::string> peers_;  // fd -> "address:port"
  std::optional<net::SocketEvent> failure_;     // waiting for its DISCONNECTED
};

}  // namespace ipp::controller::service
