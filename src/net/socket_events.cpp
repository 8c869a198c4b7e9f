#include <ipp/net/socket_events.hpp>

#include <cstdio>
#include <cstring>

namespace ipp::net {

std::optional<SocketEvent> decode_socket_event(const wire::Frames& frames) {
  if (frames.size() != 2 || frames[0].size() != 6) return std::nullopt;
  SocketEvent e;
  const auto* p = static_cast<const char*>(frames[0].data());
  std::memcpy(&e.event, p, sizeof e.event);
  std::memcpy(&e.value, p + 2, sizeof e.value);
  e.endpoint.assign(static_cast<const char*>(frames[1].data()), frames[1].size());
  return e;
}

bool is_handshake_failure(const SocketEvent& e) { return (e.event & kHandshakeFailureEvents) != 0; }

bool is_mechanism_mismatch(const SocketEvent& e) {
  return e.event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
         e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
}

bool is_curve_cryptographic_error(const SocketEvent& e) {
  return e.event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
         e.value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC;
}

std::string describe_handshake_failure(const SocketEvent& e) {
  switch (e.event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      return "connection closed during the handshake (" +
             std::string(e.value != 0 ? std::strerror(static_cast<int>(e.value)) : "no detail") +
             ")";
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return "authentication refused (ZAP status " + std::to_string(e.value) + ")";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      if (is_mechanism_mismatch(e)) return "ZMTP security mechanism mismatch";
      if (is_curve_cryptographic_error(e)) return "CurveZMQ cryptographic error";
      {
        char code[16];
        std::snprintf(code, sizeof code, "0x%08x", e.value);
        return std::string("ZMTP protocol error ") + code;
      }
    default:
      return "event " + std::to_string(e.event);
  }
}

}  // namespace ipp::net
