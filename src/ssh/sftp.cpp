#include "connection_impl.hpp"

#include <libssh/sftp.h>

#include <fcntl.h>

namespace ipp::ssh {

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
  ssh_session s = impl_->session.get();
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
          return ssh_failure(target_,
                             "cannot create remote directory " + dir + ": " + ssh_get_error(s));
        }
      } else {
        sftp_attributes_free(a);
      }
    }
    pos = next + 1;
  }
  sftp_file f =
      sftp_open(sftp, remote_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, static_cast<mode_t>(mode));
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
  ssh_session s = impl_->session.get();
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

}  // namespace ipp::ssh
