#include <ipp/net/curve.hpp>

#include <array>
#include <stdexcept>

namespace ipp::net {

bool curve_available() { return zmq_has("curve") != 0; }

void require_curve(std::string_view who) {
  if (curve_available()) return;
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  throw std::runtime_error(std::string(who) + ": CurveZMQ was requested, but libzmq " +
                           std::to_string(major) + "." + std::to_string(minor) + "." +
                           std::to_string(patch) +
                           " was built without it (zmq_has(\"curve\") is false); install a "
                           "libzmq built with libsodium or turn CurveZMQ off");
}

bool is_curve_key(std::string_view text) {
  if (text.size() != kCurveKeyLength) return false;
  const std::string z85(text);
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), z85.c_str()) != nullptr;
}

CurveKeyPair generate_curve_keypair() {
  std::array<char, kCurveKeyLength + 1> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    throw std::runtime_error(std::string("cannot generate a CurveZMQ key pair: ") +
                             zmq_strerror(zmq_errno()));
  }
  return CurveKeyPair{std::string(pub.data()), std::string(sec.data())};
}

std::optional<std::string> curve_public_key_of(std::string_view secret_key) {
  if (!is_curve_key(secret_key)) return std::nullopt;
  const std::string secret(secret_key);
  std::array<char, kCurveKeyLength + 1> pub{};
  if (zmq_curve_public(pub.data(), secret.c_str()) != 0) return std::nullopt;
  return std::string(pub.data());
}

void set_curve_server(zmq::socket_t& socket, const CurveKeyPair& keys) {
  socket.set(zmq::sockopt::curve_server, true);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

void set_curve_client(zmq::socket_t& socket, const CurveClientKeys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_key);
  socket.set(zmq::sockopt::curve_publickey, keys.own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
}

void set_curve_client(zmq::socket_t& socket, const std::optional<CurveClientKeys>& keys) {
  if (keys) set_curve_client(socket, *keys);
}

}  // namespace ipp::net
