#include <ipp/cluster/ssh.hpp>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <fcntl.h>

#include <vector>

namespace ipp::cluster {

namespace {

Error ssh_failure(const SshTarget& t, const std::string& what) {
  return make_error(ErrorCode::Remote, t.describe() + ": " + what);
}

}  // namespace

std::string SshTarget::describe() const {
  std::string s = user.empty() ? host : user + "@" + host;
  if (port > 0) s += ":" + std::to_string(port);
  return s;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789@%_+=:,./-") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\"'\"'";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct SshConnection::Impl {
  ssh_session session = nullptr;
  ~Impl() {
    if (session != nullptr) {
      if (ssh_is_connected(session) != 0) ssh_disconnect(session);
      ssh_free(session);
    }
  }
};

SshConnection::SshConnection(std::unique_ptr<Impl> impl, SshTarget target)
    : impl_(std::move(impl)), target_(std::move(target)) {}

SshConnection::~SshConnection() = default;

Result<std::unique_ptr<SshConnection>> SshConnection::connect(const SshTarget& target) {
  auto impl = std::make_unique<Impl>();
  impl->session = ssh_new();
  if (impl->session == nullptr) return ssh_failure(target, "cannot create an ssh session");
  ssh_session s = impl->session;
  ssh_options_set(s, SSH_OPTIONS_HOST, target.host.c_str());
  // ~/.ssh/config first, so that explicit settings below win over it.
  if (ssh_options_parse_config(s, nullptr) != SSH_OK) {
    return ssh_failure(target, std::string("cannot read ~/.ssh/config: ") + ssh_get_error(s));
  }
  if (!target.user.empty()) ssh_options_set(s, SSH_OPTIONS_USER, target.user.c_str());
  if (target.port > 0) {
    unsigned int port = static_cast<unsigned int>(target.port);
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  }
  long timeout = static_cast<long>(target.timeout.count());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  if (!target.identity_file.empty()) {
    ssh_options_set(s, SSH_OPTIONS_ADD_IDENTITY, target.identity_file.c_str());
  }
  if (ssh_connect(s) != SSH_OK) {
    return ssh_failure(target, std::string("cannot connect: ") + ssh_get_error(s));
  }
  if (target.strict_host_key_checking) {
    switch (ssh_session_is_known_server(s)) {
      case SSH_KNOWN_HOSTS_OK: break;
      case SSH_KNOWN_HOSTS_CHANGED:
        return ssh_failure(target, "host key verification failed: the host key CHANGED "
                                   "(possible man-in-the-middle); fix ~/.ssh/known_hosts");
      case SSH_KNOWN_HOSTS_OTHER:
        return ssh_failure(target, "host key verification failed: known_hosts has a key of "
                                   "another type for this host");
      case SSH_KNOWN_HOSTS_UNKNOWN:
      case SSH_KNOWN_HOSTS_NOT_FOUND:
        return ssh_failure(target, "host key verification failed: the host is not in "
                                   "~/.ssh/known_hosts (connect once with ssh to add it, or set "
                                   "c.SSHLauncher.strict_host_key_checking = False)");
      default:
        return ssh_failure(target, std::string("host key verification failed: ") +
                                       ssh_get_error(s));
    }
  }
  int rc = ssh_userauth_publickey_auto(s, nullptr, nullptr);
  if (rc != SSH_AUTH_SUCCESS) {
    return ssh_failure(target, std::string("authentication failed (agent and default keys): ") +
                                   ssh_get_error(s));
  }
  return std::unique_ptr<SshConnection>(new SshConnection(std::move(impl), target));
}

Result<ExecResult> SshConnection::exec(const std::string& command, std::chrono::seconds timeout) {
  ssh_session s = impl_->session;
  ssh_channel ch = ssh_channel_new(s);
  if (ch == nullptr) return ssh_failure(target_, std::string("channel: ") + ssh_get_error(s));
  struct Closer {
    ssh_channel ch;
    ~Closer() {
      ssh_channel_close(ch);
      ssh_channel_free(ch);
    }
  } closer{ch};
  if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
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

namespace {

// An initialised SFTP session on `s`, freed with its owner.
struct SftpFree {
  void operator()(sftp_session p) const { sftp_free(p); }
};
using SftpPtr = std::unique_ptr<sftp_session_struct, SftpFree>;

Result<SftpPtr> open_sftp(ssh_session s, const SshTarget& target) {
  SftpPtr sftp(sftp_new(s));
  if (!sftp) return ssh_failure(target, std::string("sftp: ") + ssh_get_error(s));
  if (sftp_init(sftp.get()) != SSH_OK) {
    return ssh_failure(target, std::string("sftp init: ") + ssh_get_error(s));
  }
  return sftp;
}

}  // namespace

Status SshConnection::put_file(const std::string& contents, const std::string& remote_path,
                               int mode) {
  ssh_session s = impl_->session;
  auto opened = open_sftp(s, target_);
  if (!opened.ok()) return opened.error();
  sftp_session sftp = opened->get();
  // mkdir -p of the parents, 0700 (the profile's security/ must be private).
  std::string dir;
  auto slash = remote_path.rfind('/');
  std::string parent = slash == std::string::npos ? "" : remote_path.substr(0, slash);
  std::size_t pos = 0;
  while (pos <= parent.size() && !parent.empty()) {
    auto next = parent.find('/', pos);
    if (next == std::string::npos) next = parent.size();
    dir = parent.substr(0, next);
    if (!dir.empty()) {
      sftp_attributes a = sftp_stat(sftp, dir.c_str());
      if (a == nullptr) {
        if (sftp_mkdir(sftp, dir.c_str(), 0700) != SSH_OK) {
          return ssh_failure(target_, "cannot create remote directory " + dir + ": " +
                                          ssh_get_error(s));
        }
      } else {
        sftp_attributes_free(a);
      }
    }
    pos = next + 1;
  }
  sftp_file f = sftp_open(sftp, remote_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                          static_cast<mode_t>(mode));
  if (f == nullptr) {
    return ssh_failure(target_, "cannot write " + remote_path + ": " + ssh_get_error(s));
  }
  std::size_t off = 0;
  while (off < contents.size()) {
    ssize_t n = sftp_write(f, contents.data() + off, contents.size() - off);
    if (n <= 0) {
      sftp_close(f);
      return ssh_failure(target_, "write to " + remote_path + " failed: " + ssh_get_error(s));
    }
    off += static_cast<std::size_t>(n);
  }
  sftp_close(f);
  // An existing file keeps its old mode through O_CREAT; enforce ours.
  sftp_chmod(sftp, remote_path.c_str(), static_cast<mode_t>(mode));
  return Ok{};
}

Result<std::optional<std::string>> SshConnection::get_file(const std::string& remote_path) {
  ssh_session s = impl_->session;
  auto opened = open_sftp(s, target_);
  if (!opened.ok()) return opened.error();
  sftp_session sftp = opened->get();
  sftp_file f = sftp_open(sftp, remote_path.c_str(), O_RDONLY, 0);
  if (f == nullptr) {
    if (sftp_get_error(sftp) == SSH_FX_NO_SUCH_FILE) return std::optional<std::string>{};
    return ssh_failure(target_, "cannot read " + remote_path + ": " + ssh_get_error(s));
  }
  std::string contents;
  char buf[16384];
  for (;;) {
    ssize_t n = sftp_read(f, buf, sizeof buf);
    if (n < 0) {
      sftp_close(f);
      return ssh_failure(target_, "read of " + remote_path + " failed: " + ssh_get_error(s));
    }
    if (n == 0) break;
    contents.append(buf, static_cast<std::size_t>(n));
  }
  sftp_close(f);
  return std::optional<std::string>(std::move(contents));
}

}  // namespace ipp::cluster
