#pragma once
// SSH tunnels for the engine's connections (ipengine --sshserver / --sshkey, or the "ssh" of the
// engine connection file), as Python's engine makes them with zmq.ssh.tunnel_connection: every
// controller address the engine connects to becomes a port on 127.0.0.1 that is forwarded
// through the ssh server to that address as the server sees it.
//
// open_tunnel() runs on the main thread before the Engine exists; the forwarder it returns runs
// its own thread ("tunnel") and must outlive the Engine (its last messages, the
// unregistration, go through it).
#include <ipp/config/connection_info.hpp>
#include <ipp/ssh/port_forwarder.hpp>
#include <ipp/ssh/target.hpp>
#include <ipp/util/result.hpp>

#include <functional>
#include <memory>
#include <string>

namespace ipp::engine {

// forward(host, port) -> the local port whose connections reach host:port.
using ForwardFn = std::function<Result<int>(const std::string& host, int port)>;

// `info` with each channel (registration, control, mux, task, iopub, heartbeat, broadcast) moved
// to its forward on 127.0.0.1. The far address is the channel's url as the engine would have
// used it (a "*" or "0.0.0.0" interface already replaced by the location). A port used by two
// channels is forwarded once. Only tcp can be tunnelled.
Result<config::ConnectionInfo> tunnel_connection(const config::ConnectionInfo& info,
                                                 const ForwardFn& forward);

// Connects to `target` (host key, authentication), forwards every channel of `info` and starts
// the forwarder; `info` is rewritten to the local ports. Throws std::runtime_error naming the
// ssh server and the reason. `on_lost` is called on the tunnel thread if the session dies.
std::unique_ptr<ssh::PortForwarder> open_tunnel(const ssh::SshTarget& target,
                                                config::ConnectionInfo& info,
                                                ssh::PortForwarder::LostHandler on_lost);

}  // namespace ipp::engine
