#pragma once
// Socket adapters of the relay thread: the MonitoredQueue equivalents (mux, control), the IOPub
// forwarder and the broadcast scheduler. Each is created and bound on the main thread, then
// attached to the relay thread's reactor and used only there until it ends.
#include "../status/status_snapshot.hpp"

#include <ipp/net/reactor.hpp>
#include <ipp/util/log.hpp>
#include <ipp/util/log_tally.hpp>
#include <ipp/wire/forward_check.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ipp::controller::service {

// Two ROUTERs that swap the first two frames in both directions (client -> engine:
// [client, engine, ...] -> [engine, client, ...]) and publish a copy of each message to the hub
// under `in_topic` / `out_topic`. Frames are forwarded as they came. Requests are checked by the
// engine that receives them; what goes to clients is checked here first (signature and replay),
// because a client that receives a forged or replayed message stops reading its socket (Python's
// client raises in its receive callback): anyone who can reach the engine-facing port could
// otherwise cut every client off.
class QueueRelay {
 public:
  QueueRelay(std::string name, zmq::socket_t client, zmq::socket_t engine, zmq::socket_t& monitor,
             std::string in_topic, std::string out_topic, wire::SessionConfig session);
  void attach(net::Reactor& reactor);
  // Messages relayed (both ways) and bad input, for the status snapshot; relay thread only.
  void add_status(status::StatusSnapshot& out) const;

 private:
  void from_client();
  void from_engine();

  std::uint64_t messages_ = 0;
  std::string name_;
  zmq::socket_t client_;
  zmq::socket_t engine_;
  zmq::socket_t& monitor_;
  std::string in_topic_, out_topic_;
  wire::Session session_;
  wire::ForwardCheck forward_check_;
  std::shared_ptr<spdlog::logger> log_;
  log::Tally problems_;
};

// Engine IOPub PUBs -> our SUB -> our PUB -> client SUBs, unchanged, with a monitor copy; only
// messages with a valid signature seen for the first time go on (see QueueRelay).
class IopubRelay {
 public:
  IopubRelay(zmq::socket_t engine_sub, zmq::socket_t client_pub, zmq::socket_t& monitor,
             wire::SessionConfig session);
  void attach(net::Reactor& reactor);
  void add_status(status::StatusSnapshot& out) const;

 private:
  void forward();
  std::uint64_t messages_ = 0;
  zmq::socket_t sub_;
  zmq::socket_t pub_;
  zmq::socket_t& monitor_;
  wire::Session session_;
  wire::ForwardCheck forward_check_;
  std::shared_ptr<spdlog::logger> log_;
  log::Tally problems_;
};

// The broadcast scheduler (protocol.md 3.10), flattened: one root ROUTER for clients and one
// ROUTER per leaf port for engines, so an engine connected to leaf `id % leaves` is reached
// directly. Each target gets a re-signed copy whose msg_id is "<original>_<engine uuid>";
// coalescing requests are answered once, with every engine's buffers, when all have replied.
class BroadcastScheduler {
 public:
  BroadcastScheduler(zmq::socket_t client, std::vector<zmq::socket_t> leaves,
                     wire::SessionConfig session);
  void attach(net::Reactor& reactor);
  void add_status(status::StatusSnapshot& out) const;

 private:
  std::uint64_t messages_ = 0;
  struct Reply {
    std::size_t leaf = 0, position = 0;  // Python's reply order: by leaf, then request order
    wire::Json target;                   // [uuid, id]
    wire::Frames buffers;
  };
  struct Pending {
    std::string client_id;
    std::size_t expected = 0;
    std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> slots;  // uuid -> order
    std::vector<Reply> replies;
    wire::Json last_header, last_parent, last_metadata, last_content;
  };
  void from_client();
  void from_engine(std::size_t leaf);
  void finish_coalescing(const std::string& original, Pending& p);

  zmq::socket_t client_;
  std::vector<zmq::socket_t> leaves_;
  wire::Session session_;
  std::unordered_map<std::string, Pending> coalescing_;
  std::unordered_map<std::string, long> engine_ids_;
  std::shared_ptr<spdlog::logger> log_;
  log::Tally problems_;
};

}  // namespace ipp::controller::service
