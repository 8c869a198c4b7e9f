#pragma once
// What a PortForwarder pumps bytes through: one SSH session and its direct-tcpip channels in the
// product (libssh, make_ssh_transport), a fake over plain sockets in the unit tests. Everything
// here is used by the forwarder's thread only, after it was handed over at thread start.
#include <ipp/ssh/target.hpp>
#include <ipp/util/result.hpp>

#include <poll.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ipp::ssh {

// One forwarded TCP connection on the far side ("direct-tcpip": the ssh server connects to
// host:port for us). Destroying it closes the channel.
class ForwardChannel {
 public:
  enum class State { Opening, Open, Failed };
  virtual ~ForwardChannel() = default;

  // Advances the opening without blocking; after Failed, error() says why (e.g. the server's
  // "Connection refused" for a closed port).
  virtual State poll_open() = 0;
  virtual std::string error() const = 0;
  // Up to n bytes from the far end: > 0 bytes read, 0 nothing now, -1 the far end is finished
  // (EOF or closed) and nothing is left to read.
  virtual long read(char* buf, std::size_t n) = 0;
  // Queues up to n bytes for the far end: the count taken (0 when its window is full now), -1
  // when the channel can take nothing any more.
  virtual long write(const char* data, std::size_t n) = 0;
  // Tells the far end that nothing more will be written.
  virtual void send_eof() = 0;
};

class ForwardTransport {
 public:
  virtual ~ForwardTransport() = default;

  // The descriptors to wait on, with the events wanted (appended to `out`).
  virtual void poll_fds(std::vector<pollfd>& out) = 0;
  // Reads and writes what the descriptors allow, without blocking. An error means the
  // connection is gone (its message says why, without naming the server); nothing works after
  // that.
  virtual Status service() = 0;
  // Starts opening a channel to host:port as the server sees it; `origin_*` is the local end
  // that asked (the server logs it). Null with `error` set when no channel can be made at all.
  virtual std::unique_ptr<ForwardChannel> open(const std::string& host, int port,
                                               const std::string& origin_host, int origin_port,
                                               std::string& error) = 0;
  // The ssh server, for messages ("root@ctrl:22").
  virtual std::string describe() const = 0;
};

// Connects to `target` with libssh (known_hosts check and authentication as SshConnection does)
// and returns the transport, in non-blocking mode, ready to be handed to a PortForwarder.
Result<std::unique_ptr<ForwardTransport>> make_ssh_transport(const SshTarget& target);

}  // namespace ipp::ssh
