#pragma once
// The shared part of every libssh use in this module: a session that is connected, whose host
// key was verified and which is authenticated. Private to ipp::ssh (libssh stays behind it).
#include <ipp/ssh/target.hpp>
#include <ipp/util/result.hpp>

#include <libssh/libssh.h>

#include <memory>
#include <string>

namespace ipp::ssh {

struct SessionFree {
  void operator()(ssh_session s) const;  // disconnects when connected, then frees
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;

// Connects to `target` (~/.ssh/config first, the target's settings over it), checks the host key
// against known_hosts unless strict_host_key_checking is off, and authenticates with the agent,
// the default keys and target.identity_file (ssh_userauth_publickey_auto). Blocking, bounded by
// target.timeout. The error names the target and the reason.
Result<SessionPtr> open_session(const SshTarget& target);

// An ErrorCode::Remote error "user@host:port: what".
Error ssh_failure(const SshTarget& target, const std::string& what);

}  // namespace ipp::ssh
