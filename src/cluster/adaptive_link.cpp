#include "adaptive_link.hpp"

#include <ipp/net/curve.hpp>
#include <ipp/net/frames_io.hpp>

namespace ipp::cluster {

using wire::Json;

AdaptiveLink::AdaptiveLink(zmq::context_t& context, const ipp::config::ConnectionInfo& info)
    : query_(context, zmq::socket_type::dealer),
      control_(context, zmq::socket_type::dealer),
      session_(ipp::wire::SessionConfig{info.key, info.signature_scheme, "", ""}) {
  for (auto* s : {&query_, &control_}) {
    s->set(zmq::sockopt::linger, 0);
    if (info.curve_serverkey && !info.curve_serverkey->empty()) {
      net::set_curve_client(
          *s, net::CurveClientKeys{*info.curve_serverkey, net::generate_curve_keypair()});
    }
  }
  query_.connect(info.url(info.registration));
  control_.connect(info.url(info.control));
}

void AdaptiveLink::send(zmq::socket_t& socket, const std::string& msg_type, Json content,
                        std::vector<std::string> identities) {
  auto msg = session_.make(msg_type, std::move(content));
  msg.identities = std::move(identities);
  (void)net::send_frames(socket, session_.serialize(std::move(msg)));
}

void AdaptiveLink::ask_status() { send(query_, "status_request", Json::object()); }

void AdaptiveLink::drain(const std::vector<int>& ids) {
  send(query_, "drain_request", Json{{"engine_ids", ids}, {"drain", true}});
}

void AdaptiveLink::report(const Json& adaptive) {
  send(query_, "adapt_report", Json{{"adaptive", adaptive}});
}

void AdaptiveLink::shut_down(const std::string& engine_uuid) {
  // the control relay routes a client's message by the engine uuid in front of it
  send(control_, "shutdown_request", Json{{"restart", false}}, {engine_uuid});
  wire::Frames discard;
  while (net::recv_frames(control_, discard, /*dontwait=*/true)) {
  }
}

std::optional<Json> AdaptiveLink::read_status() {
  std::optional<Json> out;
  wire::Frames frames;
  while (net::recv_frames(query_, frames, /*dontwait=*/true)) {
    auto msg = session_.deserialize(std::move(frames));
    if (msg.ok() && msg->msg_type() == "status_reply") out = std::move(msg->content);
  }
  return out;
}

}  // namespace ipp::cluster
