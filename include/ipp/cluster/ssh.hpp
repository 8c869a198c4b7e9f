#pragma once
// SSH for the launchers: the in-process client of ipp::ssh (connection, remote commands, SFTP),
// used by the ipcluster main thread, plus the shell quoting of the remote command lines.
#include <ipp/ssh/connection.hpp>
#include <ipp/ssh/target.hpp>

#include <string>

namespace ipp::cluster {

using ssh::ExecResult;
using ssh::SshConnection;
using ssh::SshTarget;

// POSIX shell quoting: 'it'"'"'s'.
std::string shell_quote(const std::string& s);

}  // namespace ipp::cluster
