#include <ipp/net/frames_io.hpp>
#include <ipp/util/tsan.hpp>

namespace ipp::net {

bool recv_frames(zmq::socket_t& socket, wire::Frames& out, bool dontwait) {
  out.clear();
  auto flags = dontwait ? zmq::recv_flags::dontwait : zmq::recv_flags::none;
  while (true) {
    zmq::message_t part;
    auto r = socket.recv(part, out.empty() ? flags : zmq::recv_flags::none);
    if (!r) return false;
    bool more = part.more();
    util::tsan_acquire(part.data());
    out.push_back(std::move(part));
    if (!more) return true;
  }
}

bool send_frames(zmq::socket_t& socket, wire::Frames&& frames, bool block) {
  const std::size_t n = frames.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto flags = i + 1 < n ? zmq::send_flags::sndmore : zmq::send_flags::none;
    util::tsan_release(frames[i].data());
    try {
      if (!socket.send(frames[i], block ? flags : flags | zmq::send_flags::dontwait)) return false;
    } catch (const zmq::error_t& e) {
      if (e.num() == EHOSTUNREACH) return false;
      throw;
    }
  }
  return true;
}

wire::Frame share(const wire::Frame& f) {
  wire::Frame out;
  out.copy(const_cast<wire::Frame&>(f));
  return out;
}

wire::Frames share_all(const wire::Frames& frames, std::size_t from) {
  wire::Frames out;
  out.reserve(frames.size() - std::min(from, frames.size()));
  for (std::size_t i = from; i < frames.size(); ++i) out.push_back(share(frames[i]));
  return out;
}

std::string last_endpoint(zmq::socket_t& socket) {
  return socket.get(zmq::sockopt::last_endpoint);
}

int bound_port(zmq::socket_t& socket) {
  std::string ep = last_endpoint(socket);
  auto pos = ep.rfind(':');
  return pos == std::string::npos ? 0 : std::stoi(ep.substr(pos + 1));
}

}  // namespace ipp::net
