#include <ipp/ssh/port_forwarder.hpp>
#include <ipp/util/log.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <list>
#include <map>

namespace ipp::ssh {

namespace {

constexpr std::size_t kChunk = std::size_t{32} * 1024;
// Chunks per direction and wake-up, so that one busy connection cannot starve the others.
constexpr int kRounds = 8;

std::string errno_text(int err) { return std::strerror(err); }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// One accepted local connection and its channel.
struct Connection {
  int fd = -1;
  int origin_port = 0;
  const std::string* host = nullptr;  // the forward's target, for messages
  int port = 0;
  std::unique_ptr<ForwardChannel> channel;
  bool open = false;
  std::string to_remote;    // read from the local end, not yet taken by the channel
  std::string to_local;     // read from the channel, not yet written to the local end
  bool local_eof = false;   // the local end finished writing
  bool eof_sent = false;    // ... and the far end was told
  bool remote_eof = false;  // the far end finished writing
  bool local_shut = false;  // ... and the local end was told (SHUT_WR)
  bool hung_up = false;     // the local socket reported POLLHUP
  bool done = false;
  std::string failure;  // why it ended early, empty for a clean end
  std::uint64_t up = 0;
  std::uint64_t down = 0;
};

}  // namespace

// The tunnel thread's state: the connections, and the rate limits of the failure warnings.
class PortForwarder::Pump {
 public:
  explicit Pump(PortForwarder& owner) : owner_(owner) {}
  ~Pump() {
    for (auto& c : conns_) finish(c);
  }
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  void run(const LostHandler& on_lost) {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back(pollfd{owner_.wake_fd_, POLLIN, 0});
      for (const auto& f : owner_.forwards_) fds.push_back(pollfd{f.fd, POLLIN, 0});
      const std::size_t first_conn = fds.size();
      for (const auto& c : conns_) {
        short events = 0;
        if (c.open && !c.local_eof && c.to_remote.empty()) events |= POLLIN;
        if (!c.to_local.empty()) events |= POLLOUT;
        // A hung-up socket would report POLLHUP on every poll; its end shows in recv/send.
        fds.push_back(pollfd{c.hung_up ? -1 : c.fd, events, 0});
      }
      const std::size_t polled = conns_.size();
      owner_.transport_->poll_fds(fds);
      // The timeout is a safety net only: every state change comes with a ready descriptor, and
      // a connection cut short by the round limit asks for another turn at once.
      const int timeout_ms = more_rounds_ ? 0 : 1000;
      more_rounds_ = false;
      if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        lose(on_lost, "poll failed: " + errno_text(errno));
        return;
      }
      if (fds[0].revents != 0) return;  // stop()
      if (auto st = owner_.transport_->service(); !st.ok()) {
        lose(on_lost, st.error().message);
        return;
      }
      for (std::size_t i = 0; i < owner_.forwards_.size(); ++i) {
        if (fds[1 + i].revents != 0) accept_on(owner_.forwards_[i]);
      }
      std::size_t i = first_conn;
      for (auto it = conns_.begin(); it != conns_.end(); ++i) {
        if (i < first_conn + polled) {
          if ((fds[i].revents & POLLERR) != 0) fail(*it, "local connection error");
          if ((fds[i].revents & POLLHUP) != 0) it->hung_up = true;
        }
        if (!it->done) pump(*it);
        if (it->done) {
          finish(*it);
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

 private:
  void accept_on(const Forward& f) {
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      int fd =
          ::accept4(f.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: all taken; anything else: the next connection may work
      ++owner_.accepted_;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Connection c;
      c.fd = fd;
      c.origin_port = ntohs(peer.sin_port);
      c.host = &f.host;
      c.port = f.port;
      std::string error;
      c.channel = owner_.transport_->open(f.host, f.port, "127.0.0.1", c.origin_port, error);
      if (!c.channel) {
        open_failed(c, error);
        ::close(fd);
        continue;
      }
      spdlog::debug("Tunnel: connection 127.0.0.1:{} -> {}:{} through {}", c.origin_port, f.host,
                    f.port, owner_.server_);
      conns_.push_back(std::move(c));
    }
  }

  void pump(Connection& c) {
    if (!c.open) {
      switch (c.channel->poll_open()) {
        case ForwardChannel::State::Opening:
          return;
        case ForwardChannel::State::Failed:
          open_failed(c, c.channel->error());
          c.done = true;
          return;
        case ForwardChannel::State::Open:
          c.open = true;
          break;
      }
    }
    pump_up(c);
    if (!c.done) pump_down(c);
    if (c.local_eof && c.eof_sent && c.local_shut) c.done = true;
  }

  // local -> far end
  void pump_up(Connection& c) {
    char buf[kChunk];
    for (int round = 0; round < kRounds; ++round) {
      if (c.to_remote.empty() && !c.local_eof) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
          c.to_remote.assign(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
          c.local_eof = true;
        } else if (!would_block(errno)) {
          return fail(c, "local read: " + errno_text(errno));
        }
      }
      if (c.to_remote.empty()) break;
      long taken = c.channel->write(c.to_remote.data(), c.to_remote.size());
      if (taken < 0) return fail(c, "the channel was closed by the far end");
      if (taken == 0) break;  // window full: wait for the server's window adjustment
      c.to_remote.erase(0, static_cast<std::size_t>(taken));
      c.up += static_cast<std::uint64_t>(taken);
      if (round + 1 == kRounds) more_rounds_ = true;
    }
    if (c.local_eof && c.to_remote.empty() && !c.eof_sent) {
      c.channel->send_eof();
      c.eof_sent = true;
    }
  }

  // far end -> local
  void pump_down(Connection& c) {
    char buf[kChunk];
    for (int round = 0; round < kRounds; ++round) {
      if (c.to_local.empty() && !c.remote_eof) {
        long n = c.channel->read(buf, sizeof buf);
        if (n > 0) {
          c.to_local.assign(buf, static_cast<std::size_t>(n));
        } else if (n < 0) {
          c.remote_eof = true;
        }
      }
      if (c.to_local.empty()) break;
      ssize_t n = ::send(c.fd, c.to_local.data(), c.to_local.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (would_block(errno)) break;
        return fail(c, "local write: " + errno_text(errno));
      }
      c.to_local.erase(0, static_cast<std::size_t>(n));
      c.down += static_cast<std::uint64_t>(n);
      if (round + 1 == kRounds) more_rounds_ = true;
    }
    if (c.remote_eof && c.to_local.empty() && !c.local_shut) {
      ::shutdown(c.fd, SHUT_WR);
      c.local_shut = true;
    }
  }

  void fail(Connection& c, const std::string& why) {
    c.failure = why;
    c.done = true;
  }

  void open_failed(const Connection& c, const std::string& why) {
    ++owner_.failed_opens_;
    const std::string target = *c.host + ":" + std::to_string(c.port);
    auto& limit = open_failures_[target];
    if (!limit.allow()) return;
    std::string more;
    if (limit.suppressed() > 0) {
      more = " (" + std::to_string(limit.suppressed()) + " more since the last report)";
    }
    spdlog::warn("Tunnel: cannot forward a connection to {} through {}: {}{}", target,
                 owner_.server_, why.empty() ? "channel refused" : why, more);
  }

  void finish(Connection& c) {
    if (c.fd < 0) return;
    spdlog::debug("Tunnel: connection 127.0.0.1:{} -> {}:{} closed ({} bytes up, {} down){}",
                  c.origin_port, *c.host, c.port, c.up, c.down,
                  c.failure.empty() ? "" : ": " + c.failure);
    c.channel.reset();
    ::close(c.fd);
    c.fd = -1;
  }

  void lose(const LostHandler& on_lost, const std::string& reason) {
    spdlog::error("SSH tunnel through {} lost: {}", owner_.server_, reason);
    for (auto& c : conns_) finish(c);
    conns_.clear();
    if (on_lost) on_lost(reason);
  }

  PortForwarder& owner_;
  std::list<Connection> conns_;
  std::map<std::string, log::RateLimit> open_failures_;
  bool more_rounds_ = false;  // some connection stopped at kRounds with more to move
};

PortForwarder::PortForwarder(std::unique_ptr<ForwardTransport> transport)
    : transport_(std::move(transport)),
      server_(transport_->describe()),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

PortForwarder::~PortForwarder() {
  stop();
  for (auto& f : forwards_) ::close(f.fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Result<int> PortForwarder::add(const std::string& host, int port) {
  const std::string what = "tunnel to " + host + ":" + std::to_string(port) + ": ";
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(ErrorCode::Io, what + "socket: " + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return make_error(ErrorCode::Io, what + "cannot listen on 127.0.0.1: " + errno_text(err));
  }
  Forward f;
  f.fd = fd;
  f.host = host;
  f.port = port;
  f.local_port = ntohs(addr.sin_port);
  spdlog::debug("Tunnel: 127.0.0.1:{} -> {}:{} through {}", f.local_port, host, port, server_);
  forwards_.push_back(std::move(f));
  return forwards_.back().local_port;
}

void PortForwarder::start(LostHandler on_lost) {
  if (thread_.joinable()) return;
  thread_ = std::thread([this, on_lost = std::move(on_lost)] {
    // Process-directed signals (SIGINT for the interpreter, SIGTERM, ...) belong to the threads
    // of the program that uses the forwarder, never to this one.
    sigset_t mask;
    sigfillset(&mask);
    for (int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigdelset(&mask, sync);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    Pump pump(*this);
    pump.run(on_lost);
  });
}

void PortForwarder::stop() {
  if (!thread_.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

}  // namespace ipp::ssh
