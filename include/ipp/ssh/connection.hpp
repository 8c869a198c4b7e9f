#pragma once
// SSH done with libssh in-process (no `ssh`/`scp` subprocesses): the user's ~/.ssh/config
// applies, authentication uses the agent, the default key files and the target's key file, and
// the host key is checked against known_hosts unless the target explicitly turns that off.
//
// SshConnection runs remote commands and moves files (ipcluster's SSH launchers). It is owned by
// one thread (libssh sessions are not thread-safe); it lives for one batch of operations on one
// host and is reconnected when it breaks.
#include <ipp/ssh/target.hpp>
#include <ipp/util/result.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace ipp::ssh {

struct ExecResult {
  int exit_status = -1;
  std::string out;
  std::string err;
};

class SshConnection {
 public:
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  // Connects, verifies the host key and authenticates. The error names the host and the reason
  // (connection refused, unknown host key, authentication failed, ...).
  static Result<std::unique_ptr<SshConnection>> connect(const SshTarget& target);

  // Runs a shell command on the remote host and collects its output and exit status.
  Result<ExecResult> exec(const std::string& command,
                          std::chrono::seconds timeout = std::chrono::seconds(60));
  // Copies `contents` to `remote_path` over SFTP with `mode`, creating missing parent
  // directories (mode 0700). Relative paths are relative to the login directory.
  Status put_file(const std::string& contents, const std::string& remote_path, int mode);
  // Reads a remote file over SFTP; nullopt when it does not exist (yet).
  Result<std::optional<std::string>> get_file(const std::string& remote_path);

  const SshTarget& target() const { return target_; }

 private:
  struct Impl;
  explicit SshConnection(std::unique_ptr<Impl> impl, SshTarget target);
  std::unique_ptr<Impl> impl_;
  SshTarget target_;
};

}  // namespace ipp::ssh
