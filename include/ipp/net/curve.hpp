#pragma once
// CurveZMQ key handling and socket options, as ipyparallel (7+) uses them: the controller's
// bound sockets are CURVE servers with the controller's key pair; every peer connects as a CURVE
// client with the controller's public key as server key and a key pair of its own
// (ipyparallel.util.bind / connect). Keys are Z85 text, 40 characters.
//
// A secret key is never logged: these functions never print one, and callers keep it out of
// their messages (docs/security.md, "CurveZMQ").
#include <zmq.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ipp::net {

inline constexpr std::size_t kCurveKeyLength = 40;  // Z85 text of a 32-byte key

struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// What a CURVE client needs: the server's public key and its own key pair.
struct CurveClientKeys {
  std::string server_key;
  CurveKeyPair own;
};

// zmq_has("curve"): libzmq was built with CurveZMQ (libsodium or tweetnacl).
bool curve_available();
// Throws std::runtime_error naming `who` and the libzmq version when CURVE is missing.
void require_curve(std::string_view who);

// 40 characters of the Z85 alphabet that decode to 32 bytes.
bool is_curve_key(std::string_view text);

// zmq_curve_keypair. Throws std::runtime_error when libzmq cannot make one.
CurveKeyPair generate_curve_keypair();
// zmq_curve_public: the public key of a Z85 secret key; nullopt for a malformed secret.
std::optional<std::string> curve_public_key_of(std::string_view secret_key);

// CURVE_SERVER=1 with the server's secret key (before bind).
void set_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys);
// CURVE_SERVERKEY, CURVE_PUBLICKEY, CURVE_SECRETKEY (before connect).
void set_curve_client(zmq::socket_t& socket, const CurveClientKeys& keys);
// set_curve_client when `keys` holds a value; nothing otherwise.
void set_curve_client(zmq::socket_t& socket, const std::optional<CurveClientKeys>& keys);

}  // namespace ipp::net
