#include <ipp/engine/tunnel.hpp>
#include <ipp/util/log.hpp>

#include <map>
#include <stdexcept>

namespace ipp::engine {

namespace {

// "tcp://host:port" -> host; empty for another transport.
std::string tcp_host(const std::string& url) {
  const std::string scheme = "tcp://";
  if (url.rfind(scheme, 0) != 0) return "";
  auto colon = url.rfind(':');
  if (colon == std::string::npos || colon < scheme.size()) return "";
  return url.substr(scheme.size(), colon - scheme.size());
}

}  // namespace

Result<config::ConnectionInfo> tunnel_connection(const config::ConnectionInfo& info,
                                                 const ForwardFn& forward) {
  config::ConnectionInfo out = info;
  out.interface = "tcp://127.0.0.1";
  std::map<int, int> local_of;  // far port -> local port
  std::string failure;
  auto move = [&](int& port) {
    if (!failure.empty() || port <= 0) return;
    const std::string url = info.url(port);
    const std::string host = tcp_host(url);
    if (host.empty()) {
      failure = url + ": only tcp connections can be tunnelled through ssh";
      return;
    }
    if (auto known = local_of.find(port); known != local_of.end()) {
      port = known->second;
      return;
    }
    auto local = forward(host, port);
    if (!local.ok()) {
      failure = local.error().message;
      return;
    }
    spdlog::debug("Tunneling connection to {} via 127.0.0.1:{}", url, *local);
    local_of[port] = *local;
    port = *local;
  };
  move(out.registration);
  move(out.control);
  move(out.mux);
  move(out.task);
  move(out.iopub);
  move(out.hb_ping);
  move(out.hb_pong);
  for (int& port : out.broadcast) move(port);
  if (!failure.empty()) return make_error(ErrorCode::InvalidArgument, failure);
  return out;
}

std::unique_ptr<ssh::PortForwarder> open_tunnel(const ssh::SshTarget& target,
                                                config::ConnectionInfo& info,
                                                ssh::PortForwarder::LostHandler on_lost) {
  spdlog::info("Tunneling connections to the controller through {}", target.describe());
  auto transport = ssh::make_ssh_transport(target);
  if (!transport.ok()) {
    throw std::runtime_error("Cannot tunnel through the ssh server " + transport.error().message);
  }
  auto forwarder = std::make_unique<ssh::PortForwarder>(std::move(transport.value()));
  auto tunnelled = tunnel_connection(
      info, [&](const std::string& host, int port) { return forwarder->add(host, port); });
  if (!tunnelled.ok()) {
    throw std::runtime_error("SSH tunnel through " + target.describe() + ": " +
                             tunnelled.error().message);
  }
  info = std::move(tunnelled.value());
  forwarder->start(std::move(on_lost));
  return forwarder;
}

}  // namespace ipp::engine
