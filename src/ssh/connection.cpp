#include "connection_impl.hpp"

namespace ipp::ssh {

SshConnection::SshConnection(std::unique_ptr<Impl> impl, SshTarget target)
    : impl_(std::move(impl)), target_(std::move(target)) {}

SshConnection::~SshConnection() = default;

Result<std::unique_ptr<SshConnection>> SshConnection::connect(const SshTarget& target) {
  auto session = open_session(target);
  if (!session.ok()) return session.error();
  auto impl = std::make_unique<Impl>();
  impl->session = std::move(session.value());
  return std::unique_ptr<SshConnection>(new SshConnection(std::move(impl), target));
}

Result<ExecResult> SshConnection::exec(const std::string& command, std::chrono::seconds timeout) {
  ssh_session s = impl_->session.get();
  ssh_channel ch = ssh_channel_new(s);
  if (ch == nullptr) return ssh_failure(target_, std::string("channel: ") + ssh_get_error(s));
  struct Closer {
    ssh_channel ch;
    ~Closer() {
      ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  } closer{ch};
  if (ssh_channel_open_session(ch) != SSH_OK ||
      ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
    return ssh_failure(target_, std::string("cannot run a remote command: ") + ssh_get_error(s));
  }
  ExecResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    bool progressed = false;
    for (int is_err = 0; is_err < 2; ++is_err) {
      int n = ssh_channel_read_timeout(ch, buf, sizeof buf, is_err, 100);
      if (n == SSH_ERROR) {
        return ssh_failure(target_, std::string("remote command failed: ") + ssh_get_error(s));
      }
      if (n > 0) {
        (is_err ? r.err : r.out).append(buf, static_cast<std::size_t>(n));
        progressed = true;
      }
    }
    if (!progressed && ssh_channel_is_eof(ch) != 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return ssh_failure(target_, "remote command timed out: " + command);
    }
  }
  ssh_channel_send_eof(ch);
  r.exit_status = ssh_channel_get_exit_status(ch);
  return r;
}

}  // namespace ipp::ssh
