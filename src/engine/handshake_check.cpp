#include <ipp/engine/handshake_check.hpp>

namespace ipp::engine {

std::optional<std::string> HandshakeCheck::on_event(const net::SocketEvent& e) {
  if (e.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
    closed_in_a_row_ = 0;
    return std::nullopt;
  }
  if (!net::is_handshake_failure(e)) return std::nullopt;
  const std::string who = "the controller at " + url_;
  if (net::is_mechanism_mismatch(e)) {
    if (curve_) {
      return "Cannot connect to " + who +
             ": it does not use CurveZMQ, but this engine does (curve_serverkey is set by the "
             "connection file, IPEngine.curve_serverkey or $IPP_CURVE_SERVERKEY); use the "
             "controller's current connection file";
    }
    return "Cannot connect to " + who +
           ": it requires CurveZMQ, but this engine has no curve_serverkey; use the "
           "controller's current connection file, which carries it";
  }
  if (e.event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return "Cannot connect to " + who + ": it refused this engine's CurveZMQ credentials (" +
           net::describe_handshake_failure(e) + ")";
  }
  if (e.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
    if (tunnelled_) return std::nullopt;
    if (++closed_in_a_row_ < kClosedLimit) return std::nullopt;
    if (curve_) {
      return "Cannot connect to " + who +
             ": it closes the connection during the CurveZMQ handshake: it does not use "
             "CurveZMQ, or its key is not this engine's curve_serverkey (a stale connection "
             "file?)";
    }
    return "Cannot connect to " + who + ": it closes the connection during the handshake (" +
           net::describe_handshake_failure(e) +
           "); if it requires CurveZMQ, use its current connection file, which carries "
           "curve_serverkey";
  }
  return "Cannot connect to " + who + ": handshake failed (" + net::describe_handshake_failure(e) +
         ")";
}

}  // namespace ipp::engine
