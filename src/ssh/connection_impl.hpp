#pragma once
// SshConnection's private state, shared by connection.cpp (commands) and sftp.cpp (files).
#include <ipp/ssh/connection.hpp>

#include "session.hpp"

namespace ipp::ssh {

struct SshConnection::Impl {
  SessionPtr session;
};

}  // namespace ipp::ssh
