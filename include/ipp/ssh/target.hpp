#pragma once
// Where an in-process SSH connection goes and how the host is checked. Used by ipcluster's SSH
// launchers and by ipengine's tunnels (--sshserver); plain data, copied freely.
#include <ipp/util/result.hpp>

#include <chrono>
#include <string>

namespace ipp::ssh {

struct SshTarget {
  std::string host;
  std::string user;  // empty: ~/.ssh/config, then the local user
  int port = 0;      // 0: ~/.ssh/config, then 22
  bool strict_host_key_checking = true;
  std::string identity_file;  // optional extra key (c.SSHLauncher.identity_file, --sshkey)
  std::chrono::seconds timeout{10};
  // Appended to the "not in ~/.ssh/known_hosts" error: how the user of this tool can proceed.
  std::string unknown_host_hint = "connect once with ssh to add it";

  // "user@host:port" for messages.
  std::string describe() const;
};

// "[user@]host[:port]", the form ipengine's --sshserver takes (zmq.ssh.tunnel splits it the same
// way: the user before the first '@', the port after the last ':').
Result<SshTarget> parse_server(const std::string& spec);

}  // namespace ipp::ssh
