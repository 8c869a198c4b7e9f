#pragma once
// AdaptiveLink: what adaptive engines say to the controller, as a client does (the client
// connection file, CurveZMQ when it says so): status_request and drain_request on the
// registration port, shutdown_request to one engine on the control port, and adapt_report
// (the decisions, for the status page). Owned by the ipcluster main thread; its query socket is
// read by the runner's reactor.
#include <ipp/config/connection_info.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

class AdaptiveLink {
 public:
  AdaptiveLink(zmq::context_t& context, const ipp::config::ConnectionInfo& client_info);

  void ask_status();
  void drain(const std::vector<int>& ids);
  void report(const ipp::wire::Json& adaptive);
  void shut_down(const std::string& engine_uuid);
  // The newest status_reply waiting, if any (other replies are read and dropped).
  std::optional<ipp::wire::Json> read_status();
  zmq::socket_t& query_socket() { return query_; }

 private:
  void send(zmq::socket_t& socket, const std::string& msg_type, ipp::wire::Json content,
            std::vector<std::string> identities = {});
  zmq::socket_t query_;
  zmq::socket_t control_;
  ipp::wire::Session session_;
};

}  // namespace ipp::cluster
