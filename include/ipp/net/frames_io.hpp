#pragma once
// Multipart send/receive helpers over cppzmq, and zero-copy frame duplication.
#include <ipp/wire/message.hpp>

#include <zmq.hpp>

namespace ipp::net {

// Receives one whole multipart message into `out` (cleared first). With `dontwait`, returns
// false when nothing is waiting.
bool recv_frames(zmq::socket_t& socket, wire::Frames& out, bool dontwait = true);

// Sends all frames (moved). Returns false when the socket would block (unless `block`) or the
// peer is unknown (ROUTER_MANDATORY); the frames are then dropped. `block` waits for room, which
// is how a bounded queue pushes back on a faster producer.
bool send_frames(zmq::socket_t& socket, wire::Frames&& frames, bool block = false);

// Shares the payload of large frames (zmq_msg_copy is reference counted), copies small ones.
wire::Frame share(const wire::Frame& f);
wire::Frames share_all(const wire::Frames& frames, std::size_t from = 0);

// The endpoint a socket bound last ("tcp://127.0.0.1:41234") and its port.
std::string last_endpoint(zmq::socket_t& socket);
int bound_port(zmq::socket_t& socket);

}  // namespace ipp::net
