#include "handshake_monitor.hpp"

#include <ipp/net/frames_io.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

namespace ipp::controller::service {

std::string tcp_peer_of(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return {};
}

void HandshakeMonitor::watch(zmq::socket_t& socket, const std::string& port_name) {
  const std::string ep = "inproc://ipp-handshakes-" + std::to_string(watched_.size());
  if (zmq_socket_monitor(socket.handle(), ep.c_str(), kEvents) != 0) {
    throw std::runtime_error("cannot monitor the " + port_name +
                             " socket: " + zmq_strerror(zmq_errno()));
  }
  auto pair = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
  pair->set(zmq::sockopt::linger, 0);
  pair->connect(ep);
  watched_.push_back(std::make_unique<Watched>(
      Watched{std::move(pair), HandshakeLog(port_name, curve_), log::RateLimit()}));
}

std::size_t HandshakeMonitor::add_external(const std::string& port_name) {
  watched_.push_back(std::make_unique<Watched>(
      Watched{nullptr, HandshakeLog(port_name, curve_), log::RateLimit()}));
  return watched_.size() - 1;
}

void HandshakeMonitor::feed(std::size_t index, const net::SocketEvent& e) {
  if (index < watched_.size()) handle(*watched_[index], e);
}

void HandshakeMonitor::attach(net::Reactor& reactor) {
  for (auto& w : watched_) {
    if (!w->events) continue;
    Watched* p = w.get();
    reactor.add(*w->events, [this, p] { drain(*p); });
  }
}

void HandshakeMonitor::drain(Watched& w) {
  wire::Frames frames;
  while (net::recv_frames(*w.events, frames)) {
    if (auto e = net::decode_socket_event(frames)) handle(w, *e);
  }
}

void HandshakeMonitor::handle(Watched& w, const net::SocketEvent& e) {
  auto finding = w.log.on_event(e, tcp_peer_of);
  if (!finding) return;
  if (!finding->warning || !w.limit.allow()) {
    log_->debug("{}", finding->text);
    return;
  }
  if (w.limit.suppressed() > 0) {
    log_->warn("{} ({} more on this port since the last warning)", finding->text,
               w.limit.suppressed());
  } else {
    log_->warn("{}", finding->text);
  }
}

}  // namespace ipp::controller::service
