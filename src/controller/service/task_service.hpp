#pragma once
// The load-balancing scheduler's socket adapter: client ROUTER (task_in), engine ROUTER
// (task_out), a monitor PUSH to the hub and a PULL for engine (un)registrations from the hub.
// The algorithm lives in sched::TaskScheduler; this class keeps the request frames per msg_id,
// turns the scheduler's actions into frames, and fabricates the error replies Python's
// scheduler sends. With the "pure" scheme the engine side is a DEALER and no algorithm runs.
//
// Created and bound on the main thread; used only by the task thread afterwards.
#include "client_routes.hpp"
#include "monitor_copy.hpp"
#include "../status/status_snapshot.hpp"

#include <ipp/controller/sched/task_scheduler.hpp>
#include <ipp/net/reactor.hpp>
#include <ipp/util/log.hpp>
#include <ipp/util/log_tally.hpp>
#include <ipp/wire/forward_check.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace ipp::controller::service {

class TaskService {
 public:
  // `scheduler` empty means the pure scheme (engine socket is a DEALER).
  TaskService(zmq::socket_t client, zmq::socket_t engine, zmq::socket_t monitor,
              zmq::socket_t events, wire::SessionConfig session,
              std::optional<sched::TaskScheduler::Options> scheduler);
  void attach(net::Reactor& reactor);
  // Keeps the route of each client session on the task port in `file` (rewritten when a new one
  // appears), so that after a restart the replies to tasks read back from the store reach the
  // client that submitted them; `load`: read the routes a previous controller saved.
  void keep_client_routes(std::filesystem::path file, bool load);
  // Messages on the task port (both ways), retries and bad input, for the status snapshot;
  // task thread only.
  void add_status(status::StatusSnapshot& out) const;

 private:
  struct Stored {
    std::string client_id;
    wire::Frames frames;  // from <IDS|MSG> on (frames[2] is the header)
    std::string session;  // set for a task read back from the store: routed by its session
  };
  // The route to the client that submitted a stored task (for a restored one, the newest route
  // of its session).
  const std::string& route_of(const Stored& s) const;
  void restore_task(wire::Frames&& frames);
  void from_client();
  void from_engine();
  void from_hub();
  // `reply` (with the fields the hub indexes it by) is relayed to the client if the actions say
  // so.
  // `hub_knows`: a request whose destination went to the hub with its copy (no tracktask)
  void apply(sched::Actions&& actions, wire::Frames* reply,
             std::optional<IndexedFields> reply_fields = std::nullopt,
             std::string_view hub_knows = {});
  void send_to_engine(const std::string& msg_id, const std::string& engine, bool tell_hub);
  void fail(const std::string& msg_id, const std::string& ename, const std::string& evalue,
            const std::string* engine);
  // Answers a request that is not a task (sched::check_task_request) without queueing it.
  void refuse(const std::string& client_id, std::string_view header_text,
              const sched::RequestError& why);
  void monitor(std::string_view topic, const wire::Frames& frames);
  // A copy of a message this thread authenticated (or built), with the fields read from it.
  void monitor_authenticated(std::string_view topic, const wire::Frames& frames,
                             std::optional<IndexedFields> fields, std::string engine = {});
  void rearm();
  void pure_from_client();
  void pure_from_engine();
  void flush_pure();

  std::uint64_t messages_ = 0;
  zmq::socket_t client_;
  zmq::socket_t engine_;
  zmq::socket_t monitor_;
  zmq::socket_t events_;
  wire::Session session_;
  std::optional<sched::TaskScheduler> scheduler_;
  std::unordered_map<std::string, Stored> stored_;
  net::Reactor* reactor_ = nullptr;
  net::Reactor::TimerId timer_ = 0;
  std::optional<TimePoint> armed_for_;
  std::shared_ptr<spdlog::logger> log_;
  log::Tally problems_;
  // The fields read from each message part on the per-task path, without a JSON tree.
  wire::FieldScan request_header_scan_{"msg_id", "date", "session", "msg_type"};
  wire::FieldScan reply_header_scan_{"date"};
  wire::FieldScan request_md_scan_{"targets", "retries", "timeout", "after", "follow", "label"};
  wire::FieldScan parent_scan_{"msg_id"};
  wire::ForwardCheck forward_check_;  // what the client's Session needs of a reply
  wire::FieldScan reply_md_scan_{"status", "dependencies_met", "engine", "started"};
  std::deque<wire::Frames> pure_pending_;  // requests waiting for a connected engine
  std::optional<ClientRoutes> routes_;  // when keep_client_routes() was called
  std::size_t restored_pending_ = 0;  // tasks read back from the store, not finished yet
};

}  // namespace ipp::controller::service
