#include <ipp/cluster/registration_probe.hpp>
#include <ipp/net/curve.hpp>
#include <ipp/net/frames_io.hpp>

#include <chrono>

namespace ipp::cluster {

RegistrationProbe::RegistrationProbe(zmq::context_t& context,
                                     const ipp::config::ConnectionInfo& client_info)
    : socket_(context, zmq::socket_type::dealer),
      session_(ipp::wire::SessionConfig{client_info.key, client_info.signature_scheme, "", ""}) {
  socket_.set(zmq::sockopt::linger, 0);
  if (client_info.curve_serverkey && !client_info.curve_serverkey->empty()) {
    // a CurveZMQ controller: a client like any other, with a key pair of its own
    net::require_curve("curve_serverkey");
    net::set_curve_client(
        socket_, net::CurveClientKeys{*client_info.curve_serverkey, net::generate_curve_keypair()});
  }
  socket_.connect(client_info.url(client_info.registration));
}

void RegistrationProbe::send_request() {
  auto msg = session_.make("connection_request");
  (void)ipp::net::send_frames(socket_, session_.serialize(std::move(msg)));
}

std::optional<ipp::wire::Message> RegistrationProbe::ask(const std::string& msg_type,
                                                         const std::string& reply_type,
                                                         int timeout_ms) {
  auto msg = session_.make(msg_type);
  (void)ipp::net::send_frames(socket_, session_.serialize(std::move(msg)));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, left) <= 0) continue;
    ipp::wire::Frames frames;
    while (ipp::net::recv_frames(socket_, frames, /*dontwait=*/true)) {
      auto reply = session_.deserialize(std::move(frames));
      if (!reply.ok()) continue;
      if (reply->msg_type() == reply_type || reply->msg_type() == "hub_error") {
        return std::move(reply).value();
      }
    }
  }
}

std::optional<int> RegistrationProbe::read_replies() {
  std::optional<int> count;
  ipp::wire::Frames frames;
  while (ipp::net::recv_frames(socket_, frames, /*dontwait=*/true)) {
    auto msg = session_.deserialize(std::move(frames));
    if (!msg.ok() || msg->msg_type() != "connection_reply") continue;
    auto it = msg->content.find("engines");
    if (it != msg->content.end() && it->is_object()) count = static_cast<int>(it->size());
  }
  return count;
}

}  // namespace ipp::cluster
