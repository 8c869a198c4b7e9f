// PortForwarder over FakeTransport, whose channels are plain TCP connections made by the test
// process itself: the pump (accept, open, both directions, half-close, failures, a lost
// session, stop) is exercised without an ssh server.
#include <ipp/ssh/port_forwarder.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace ipp::ssh {
namespace {

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A listening socket on 127.0.0.1:<ephemeral>; port() is where it listens.
struct Listener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port = 0;
  Listener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    port = ntohs(a.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// A port on which nobody listens.
int dead_port() {
  Listener l;
  return l.port;
}

// Reads until EOF or `timeout`; returns what came.
std::string read_all(int fd, std::chrono::seconds timeout = std::chrono::seconds(10)) {
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

class FakeChannel final : public ForwardChannel {
 public:
  FakeChannel(int fd, std::string error, std::shared_ptr<std::set<int>> live)
      : fd_(fd), error_(std::move(error)), live_(std::move(live)) {
    if (fd_ >= 0) live_->insert(fd_);
  }
  ~FakeChannel() override {
    if (fd_ >= 0) {
      live_->erase(fd_);
      ::close(fd_);
    }
  }
  State poll_open() override {
    // A refusal comes at once; a connection stays opening for one round, as a real channel
    // waits for the server's confirmation (its descriptor is polled, so the round is short).
    if (fd_ < 0) return State::Failed;
    if (first_poll_) {
      first_poll_ = false;
      return State::Opening;
    }
    return fd_ >= 0 ? State::Open : State::Failed;
  }
  std::string error() const override { return error_; }
  long read(char* buf, std::size_t n) override {
    ssize_t got = ::recv(fd_, buf, n, MSG_DONTWAIT);
    if (got > 0) return got;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;
  }
  long write(const char* data, std::size_t n) override {
    ssize_t put = ::send(fd_, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (put >= 0) return put;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
  void send_eof() override { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_;
  std::string error_;
  std::shared_ptr<std::set<int>> live_;
  bool first_poll_ = true;
};

class FakeTransport final : public ForwardTransport {
 public:
  explicit FakeTransport(int lose_fd) : lose_fd_(lose_fd) {}
  void poll_fds(std::vector<pollfd>& out) override {
    out.push_back(pollfd{lose_fd_, POLLIN, 0});
    for (int fd : *live_) out.push_back(pollfd{fd, POLLIN | POLLOUT, 0});
  }
  Status service() override {
    std::uint64_t n = 0;
    if (::read(lose_fd_, &n, sizeof n) == sizeof n) {
      return make_error(ErrorCode::Remote, "Socket error: disconnected");
    }
    return Ok{};
  }
  std::unique_ptr<ForwardChannel> open(const std::string& host, int port, const std::string&, int,
                                       std::string&) override {
    EXPECT_EQ(host, "127.0.0.1");
    int fd = connect_loopback(port);
    return std::make_unique<FakeChannel>(fd, fd < 0 ? "Connection refused" : "", live_);
  }
  std::string describe() const override { return "fake@server"; }

 private:
  int lose_fd_;
  std::shared_ptr<std::set<int>> live_ = std::make_shared<std::set<int>>();
};

class PortForwarderTest : public ::testing::Test {
 protected:
  int lose_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::unique_ptr<PortForwarder> fwd_ =
      std::make_unique<PortForwarder>(std::make_unique<FakeTransport>(lose_fd_));
  ~PortForwarderTest() override {
    fwd_.reset();
    ::close(lose_fd_);
  }
};

TEST_F(PortForwarderTest, CarriesBothWaysAndHalfCloses) {
  Listener server;
  auto local = fwd_->add("127.0.0.1", server.port);
  ASSERT_TRUE(local.ok()) << local.error().message;
  EXPECT_NE(*local, server.port);
  fwd_->start();

  // The far end echoes everything, then closes after the client's EOF.
  auto echo = std::async(std::launch::async, [&] {
    int c = ::accept(server.fd, nullptr, nullptr);
    std::string seen = read_all(c);
    std::size_t off = 0;
    while (off < seen.size()) {
      ssize_t n = ::send(c, seen.data() + off, seen.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(c);
    return seen.size();
  });
  int client = connect_loopback(*local);
  ASSERT_GE(client, 0);
  std::string payload(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 31 + 7);
  std::size_t off = 0;
  while (off < payload.size()) {
    ssize_t n = ::send(client, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += static_cast<std::size_t>(n);
  }
  ::shutdown(client, SHUT_WR);
  std::string back = read_all(client);
  ::close(client);
  EXPECT_EQ(echo.get(), payload.size());
  EXPECT_TRUE(back == payload) << back.size() << " bytes back of " << payload.size();
  EXPECT_EQ(fwd_->accepted(), 1u);
  EXPECT_EQ(fwd_->failed_opens(), 0u);
}

TEST_F(PortForwarderTest, DeliversWhatALocalEndSentBeforeItClosed) {
  Listener server;
  auto local = fwd_->add("127.0.0.1", server.port);
  ASSERT_TRUE(local.ok());
  fwd_->start();
  auto far = std::async(std::launch::async, [&] {
    int c = ::accept(server.fd, nullptr, nullptr);
    std::string seen = read_all(c);
    ::close(c);
    return seen;
  });
  // Sent and closed at once: the forwarder still finds the bytes in the socket after the hang-up.
  const std::string payload(2 * 1024 * 1024, 'z');
  std::thread writer([&] {
    int client = connect_loopback(*local);
    std::size_t off = 0;
    while (off < payload.size()) {
      ssize_t n = ::send(client, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(client);
  });
  writer.join();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(far.get().size(), payload.size());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(PortForwarderTest, ClosesTheLocalConnectionWhenTheFarPortIsClosed) {
  auto local = fwd_->add("127.0.0.1", dead_port());
  ASSERT_TRUE(local.ok());
  fwd_->start();
  for (int i = 0; i < 3; ++i) {
    int client = connect_loopback(*local);
    ASSERT_GE(client, 0);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(read_all(client), "");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
    ::close(client);
  }
  EXPECT_EQ(fwd_->failed_opens(), 3u);
}

TEST_F(PortForwarderTest, ManyForwardsAtOnce) {
  Listener a, b;
  auto la = fwd_->add("127.0.0.1", a.port);
  auto lb = fwd_->add("127.0.0.1", b.port);
  ASSERT_TRUE(la.ok() && lb.ok());
  EXPECT_NE(*la, *lb);
  fwd_->start();
  int ca = connect_loopback(*la);
  int cb = connect_loopback(*lb);
  int sa = ::accept(a.fd, nullptr, nullptr);
  int sb = ::accept(b.fd, nullptr, nullptr);
  ASSERT_GE(sa, 0);
  ASSERT_GE(sb, 0);
  ::send(ca, "to-a", 4, MSG_NOSIGNAL);
  ::send(cb, "to-b", 4, MSG_NOSIGNAL);
  ::send(sa, "from-a", 6, MSG_NOSIGNAL);
  ::send(sb, "from-b", 6, MSG_NOSIGNAL);
  ::close(sa);
  ::close(sb);
  EXPECT_EQ(read_all(ca), "from-a");
  EXPECT_EQ(read_all(cb), "from-b");
  ::close(ca);
  ::close(cb);
}

TEST_F(PortForwarderTest, ReportsALostSessionOnceAndClosesItsConnections) {
  Listener server;
  auto local = fwd_->add("127.0.0.1", server.port);
  ASSERT_TRUE(local.ok());
  std::promise<std::string> lost;
  fwd_->start([&](const std::string& why) { lost.set_value(why); });
  int client = connect_loopback(*local);
  int far = ::accept(server.fd, nullptr, nullptr);
  ASSERT_GE(far, 0);
  std::uint64_t one = 1;
  ASSERT_EQ(::write(lose_fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  auto why = lost.get_future();
  ASSERT_EQ(why.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(why.get(), "Socket error: disconnected");
  EXPECT_EQ(read_all(client), "");
  ::close(client);
  ::close(far);
}

TEST_F(PortForwarderTest, StopClosesOpenConnections) {
  Listener server;
  auto local = fwd_->add("127.0.0.1", server.port);
  ASSERT_TRUE(local.ok());
  fwd_->start();
  int client = connect_loopback(*local);
  int far = ::accept(server.fd, nullptr, nullptr);
  ASSERT_GE(far, 0);
  fwd_->stop();
  fwd_->stop();  // idempotent
  EXPECT_EQ(read_all(client), "");
  ::close(client);
  ::close(far);
}

}  // namespace
}  // namespace ipp::ssh
