#pragma once
// RegistrationProbe: asks a running controller how many engines have registered, with the
// client protocol itself — a DEALER sends `connection_request` to the hub's registration port
// and the `connection_reply` lists the engines (ipyparallel Hub.connection_request). This works
// the same against our ipcontroller and Python's, with CurveZMQ when the client file carries a
// curve_serverkey.
//
// Owned by the ipcluster main thread (the socket is created, used and closed there); lives from
// the moment the controller wrote its client file until the engines have started.
#include <ipp/config/connection_info.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <optional>

namespace ipp::cluster {

class RegistrationProbe {
 public:
  RegistrationProbe(zmq::context_t& context, const ipp::config::ConnectionInfo& client_info);

  void send_request();
  // Any other hub query (status_request): sends it, and reads the first reply of `reply_type`
  // (or a hub_error) within `timeout`; nullopt when none came.
  std::optional<ipp::wire::Message> ask(const std::string& msg_type,
                                        const std::string& reply_type, int timeout_ms);
  // Reads every waiting reply; the engine count of the newest valid one, if any.
  std::optional<int> read_replies();
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  ipp::wire::Session session_;
};

}  // namespace ipp::cluster
