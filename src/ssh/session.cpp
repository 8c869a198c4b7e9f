#include "session.hpp"

#include <unistd.h>

namespace ipp::ssh {

void SessionFree::operator()(ssh_session s) const {
  if (s == nullptr) return;
  if (ssh_is_connected(s) != 0) ssh_disconnect(s);
  ssh_free(s);
}

Error ssh_failure(const SshTarget& t, const std::string& what) {
  return make_error(ErrorCode::Remote, t.describe() + ": " + what);
}

namespace {

// known_hosts' verdict on the connected session's host key; an error for anything but a match.
Status check_host_key(ssh_session s, const SshTarget& target) {
  const std::string failed = "host key verification failed: ";
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return Ok{};
    case SSH_KNOWN_HOSTS_CHANGED:
      return ssh_failure(target, failed +
                                     "the host key CHANGED (possible man-in-the-middle); "
                                     "fix ~/.ssh/known_hosts");
    case SSH_KNOWN_HOSTS_OTHER:
      return ssh_failure(target, failed + "known_hosts has a key of another type for this host");
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND: {
      std::string why = failed + "the host is not in ~/.ssh/known_hosts";
      if (!target.unknown_host_hint.empty()) why += " (" + target.unknown_host_hint + ")";
      return ssh_failure(target, why);
    }
    default:
      return ssh_failure(target, failed + ssh_get_error(s));
  }
}

}  // namespace

Result<SessionPtr> open_session(const SshTarget& target) {
  SessionPtr session(ssh_new());
  if (!session) return ssh_failure(target, "cannot create an ssh session");
  ssh_session s = session.get();
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
  // Small messages (heartbeats through a tunnel, short commands) go out at once.
  int nodelay = 1;
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
  long timeout = static_cast<long>(target.timeout.count());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  if (!target.identity_file.empty()) {
    if (::access(target.identity_file.c_str(), R_OK) != 0) {
      return ssh_failure(target, "cannot read the key file " + target.identity_file);
    }
    ssh_options_set(s, SSH_OPTIONS_ADD_IDENTITY, target.identity_file.c_str());
  }
  if (ssh_connect(s) != SSH_OK) {
    return ssh_failure(target, std::string("cannot connect: ") + ssh_get_error(s));
  }
  if (target.strict_host_key_checking) {
    if (auto checked = check_host_key(s, target); !checked.ok()) return checked.error();
  }
  if (ssh_userauth_publickey_auto(s, nullptr, nullptr) != SSH_AUTH_SUCCESS) {
    const std::string keys = target.identity_file.empty()
                                 ? "agent and default keys"
                                 : "agent, default keys and " + target.identity_file;
    return ssh_failure(target, "authentication failed (" + keys + "): " + ssh_get_error(s));
  }
  return session;
}

}  // namespace ipp::ssh
