#pragma once
// libzmq socket-monitor events (zmq_socket_monitor, version 1): decoding, and what a failed
// handshake means for CurveZMQ. Pure functions; the sockets that read the events live with their
// owners (the hub, the engine's registration).
#include <ipp/wire/message.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace ipp::net {

// [uint16 event, uint32 value], [endpoint]. `value` is a descriptor (ACCEPTED, CONNECTED,
// DISCONNECTED), an errno (HANDSHAKE_FAILED_NO_DETAIL) or a ZMQ_PROTOCOL_ERROR_* code
// (HANDSHAKE_FAILED_PROTOCOL) or ZAP status (HANDSHAKE_FAILED_AUTH).
struct SocketEvent {
  std::uint16_t event = 0;
  std::uint32_t value = 0;
  std::string endpoint;  // for a bound socket, its own endpoint (not the peer's)
};

// Events that say a ZMTP handshake failed.
inline constexpr int kHandshakeFailureEvents = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

// nullopt for anything but a well-formed two-frame event.
std::optional<SocketEvent> decode_socket_event(const wire::Frames& frames);

bool is_handshake_failure(const SocketEvent& e);
// The two sides offered different security mechanisms (one CURVE, the other NULL).
bool is_mechanism_mismatch(const SocketEvent& e);
// A CURVE box did not open: the client encrypted for another server key.
bool is_curve_cryptographic_error(const SocketEvent& e);
// A short description of a handshake failure ("ZMTP security mechanism mismatch",
// "connection closed during the handshake (Broken pipe)", ...).
std::string describe_handshake_failure(const SocketEvent& e);

}  // namespace ipp::net
