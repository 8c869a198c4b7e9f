// ForwardTransport over one libssh session in non-blocking mode: channels are direct-tcpip
// channels; the session's socket is serviced by an ssh_event so that incoming packets (data,
// window adjustments, channel confirmations, a disconnect) are taken in and queued output is
// flushed whenever the forwarder's poll says the socket is ready.
#include <ipp/ssh/forward_transport.hpp>

#include "session.hpp"

namespace ipp::ssh {

namespace {

class SshChannel final : public ForwardChannel {
 public:
  SshChannel(ssh_session session, ssh_channel channel, std::string host, int port,
             std::string origin_host, int origin_port)
      : session_(session),
        channel_(channel),
        host_(std::move(host)),
        port_(port),
        origin_host_(std::move(origin_host)),
        origin_port_(origin_port) {}
  ~SshChannel() override {
    if (ssh_channel_is_open(channel_) != 0) ssh_channel_close(channel_);
    ssh_channel_free(channel_);
  }
  SshChannel(const SshChannel&) = delete;
  SshChannel& operator=(const SshChannel&) = delete;

  State poll_open() override {
    if (state_ != State::Opening) return state_;
    int rc = ssh_channel_open_forward(channel_, host_.c_str(), port_, origin_host_.c_str(),
                                      origin_port_);
    if (rc == SSH_OK) {
      state_ = State::Open;
    } else if (rc != SSH_AGAIN) {
      state_ = State::Failed;
      error_ = ssh_get_error(session_);
    }
    return state_;
  }
  std::string error() const override { return error_; }

  long read(char* buf, std::size_t n) override {
    int got = ssh_channel_read_nonblocking(channel_, buf, static_cast<uint32_t>(n), 0);
    if (got > 0) return got;
    if (got == SSH_ERROR || ssh_channel_is_eof(channel_) != 0 ||
        ssh_channel_is_closed(channel_) != 0) {
      return -1;
    }
    return 0;
  }

  long write(const char* data, std::size_t n) override {
    if (ssh_channel_is_closed(channel_) != 0) return -1;
    // Never more than the window: in non-blocking mode libssh would otherwise queue the rest in
    // its own unbounded buffer.
    uint32_t window = ssh_channel_window_size(channel_);
    if (window == 0) return 0;
    auto count = static_cast<uint32_t>(std::min<std::size_t>(n, window));
    int rc = ssh_channel_write(channel_, data, count);
    return rc == SSH_ERROR ? -1 : rc;
  }

  void send_eof() override { ssh_channel_send_eof(channel_); }

 private:
  ssh_session session_;
  ssh_channel channel_;
  std::string host_;
  int port_;
  std::string origin_host_;
  int origin_port_;
  State state_ = State::Opening;
  std::string error_;
};

struct EventFree {
  void operator()(ssh_event e) const { ssh_event_free(e); }
};

class SshTransport final : public ForwardTransport {
 public:
  SshTransport(SessionPtr session, SshTarget target)
      : session_(std::move(session)), target_(std::move(target)), event_(ssh_event_new()) {
    ssh_set_blocking(session_.get(), 0);
    if (event_) ssh_event_add_session(event_.get(), session_.get());
  }
  ~SshTransport() override {
    if (event_) ssh_event_remove_session(event_.get(), session_.get());
  }
  SshTransport(const SshTransport&) = delete;
  SshTransport& operator=(const SshTransport&) = delete;

  void poll_fds(std::vector<pollfd>& out) override {
    short events = POLLIN;
    if ((ssh_get_poll_flags(session_.get()) & SSH_WRITE_PENDING) != 0) events |= POLLOUT;
    out.push_back(pollfd{ssh_get_fd(session_.get()), events, 0});
  }

  Status service() override {
    if (!event_) return make_error(ErrorCode::Internal, "cannot create an ssh event loop");
    // An error return alone can be an interrupted poll; the session's status tells a dead one.
    ssh_event_dopoll(event_.get(), 0);
    ssh_session s = session_.get();
    if (ssh_is_connected(s) == 0 || (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0) {
      std::string why = ssh_get_error(s);
      return make_error(ErrorCode::Remote, why.empty() ? "disconnected" : why);
    }
    return Ok{};
  }

  std::unique_ptr<ForwardChannel> open(const std::string& host, int port,
                                       const std::string& origin_host, int origin_port,
                                       std::string& error) override {
    ssh_channel ch = ssh_channel_new(session_.get());
    if (ch == nullptr) {
      error = ssh_get_error(session_.get());
      return nullptr;
    }
    return std::make_unique<SshChannel>(session_.get(), ch, host, port, origin_host, origin_port);
  }

  std::string describe() const override { return target_.describe(); }

 private:
  SessionPtr session_;
  SshTarget target_;
  std::unique_ptr<ssh_event_struct, EventFree> event_;
};

}  // namespace

Result<std::unique_ptr<ForwardTransport>> make_ssh_transport(const SshTarget& target) {
  auto session = open_session(target);
  if (!session.ok()) return session.error();
  return std::unique_ptr<ForwardTransport>(new SshTransport(std::move(session.value()), target));
}

}  // namespace ipp::ssh
