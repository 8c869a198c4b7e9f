#pragma once
// HandshakeCheck: reads the registration socket's handshake events and tells when the engine
// cannot reach the controller with its security settings, with a message that says why: the
// controller does not use CurveZMQ while the engine does, or the other way round, or the
// controller's key is not the engine's curve_serverkey. libzmq itself only retries, silently.
//
// Sans-I/O; owned by the Engine on its main thread until registration completes.
#include <ipp/net/socket_events.hpp>

#include <optional>
#include <string>

namespace ipp::engine {

class HandshakeCheck {
 public:
  // `tunnelled`: the engine's connections go through an SSH tunnel, whose local end closes a
  // connection when the far end refuses it (the tunnel logs that); closings mid-handshake then
  // say nothing about the controller's security and are left to the registration timeout.
  HandshakeCheck(std::string controller_url, bool curve, bool tunnelled = false)
      : url_(std::move(controller_url)), curve_(curve), tunnelled_(tunnelled) {}

  // The fatal message, when `e` shows the handshake cannot succeed.
  std::optional<std::string> on_event(const net::SocketEvent& e);

  // Connections closed mid-handshake, in a row, before they count as a refusal (a CURVE server
  // closes the connection when the client's box was made for another key).
  static constexpr int kClosedLimit = 2;

 private:
  std::string url_;
  bool curve_;
  bool tunnelled_;
  int closed_in_a_row_ = 0;
};

}  // namespace ipp::engine
