#include "handshake_log.hpp"

namespace ipp::controller::service {

std::optional<HandshakeLog::Finding> HandshakeLog::on_event(
    const net::SocketEvent& e, const std::function<std::string(int)>& peer_of) {
  const int fd = static_cast<int>(e.value);
  if (e.event == ZMQ_EVENT_ACCEPTED) {
    peers_[fd] = peer_of(fd);
    return std::nullopt;
  }
  if (net::is_handshake_failure(e)) {
    failure_ = e;
    return std::nullopt;
  }
  if (e.event != ZMQ_EVENT_DISCONNECTED) return std::nullopt;
  std::string peer;
  if (auto it = peers_.find(fd); it != peers_.end()) {
    peer = std::move(it->second);
    peers_.erase(it);
  }
  if (!failure_) return std::nullopt;
  auto failure = std::move(*failure_);
  failure_.reset();
  return explain(failure, peer.empty() ? "at an unknown address" : peer, e.endpoint);
}

HandshakeLog::Finding HandshakeLog::explain(const net::SocketEvent& failure,
                                            const std::string& peer,
                                            const std::string& endpoint) const {
  const std::string where = "the " + port_ + " port (" + endpoint + ")";
  if (net::is_mechanism_mismatch(failure)) {
    if (curve_) {
      return {true,
              "Peer " + peer + " connected to " + where +
                  " without CurveZMQ; this controller requires it: the peer needs the connection "
                  "file with curve_serverkey (ipyparallel 7 or later reads it)"};
    }
    return {true, "Peer " + peer + " tried CurveZMQ on " + where +
                      ", but this controller does not use it (enable it with "
                      "IPController.enable_curve, or give the peer the current connection file)"};
  }
  if (curve_ && net::is_curve_cryptographic_error(failure)) {
    return {true, "Peer " + peer + " failed the CurveZMQ handshake on " + where +
                      ": its curve_serverkey is not this controller's public key (a stale "
                      "connection file?)"};
  }
  if (failure.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
    if (curve_) {
      return {true, "Peer " + peer + " closed the connection during the CurveZMQ handshake on " +
                        where +
                        ": it does not use CurveZMQ, or its curve_serverkey is not this "
                        "controller's public key (" +
                        net::describe_handshake_failure(failure) + ")"};
    }
    return {false, "Peer " + peer + " closed the connection during the handshake on " + where +
                       " (" + net::describe_handshake_failure(failure) + ")"};
  }
  return {true, "Handshake with peer " + peer + " on " + where +
                    " failed: " + net::describe_handshake_failure(failure)};
}

}  // namespace ipp::controller::service
