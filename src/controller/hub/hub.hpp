#pragma once
// Hub: the sockets of registration, client queries, notifications, the heartbeat and the
// monitor pipe. What it decides lives in sans-I/O parts: EngineRegistry (registration,
// heartbeat, connections, restore), TaskLedger (tasks in flight), the engine-state file; the
// query handlers are in hub_queries.cpp and the task-record intake in hub_records.cpp.
// It is not in the data path: relays and schedulers send it copies of traffic on the monitor
// PULL, from which it keeps the task records (protocol.md 3.11, 8).
//
// Owning thread: the controller's main reactor. Lifetime: the controller's run.
#include "dask_scheduler.hpp"
#include "engine_registry.hpp"
#include "../status/task_stats.hpp"
#include "task_ledger.hpp"

#include <ipp/controller/db/task_db.hpp>
#include <ipp/controller/heartbeat/heart_monitor.hpp>
#include <ipp/net/reactor.hpp>
#include <ipp/net/socket_events.hpp>
#include <ipp/util/log.hpp>
#include <ipp/util/log_tally.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace ipp::controller::service {
struct AuthenticatedCopy;
}

namespace ipp::controller::hub {

struct HubSockets {
  zmq::socket_t query;         // ROUTER: registration + client queries
  zmq::socket_t notification;  // XPUB (verbose): subscriptions arrive as messages
  zmq::socket_t monitor;       // PULL: copies from relays and schedulers
  zmq::socket_t hb_ping;       // PUB
  zmq::socket_t hb_pong;       // ROUTER
  zmq::socket_t hb_events;     // PAIR: hb_pong's socket-monitor events (connections accepted/closed)
  zmq::socket_t resubmit;      // DEALER connected to the client-side task port
  // PUSH to the task thread: [register|unregister|lost|drain|undrain, uuid], or a task read back from the
  // store after a restart: [restore, engine uuid or "", client session, <IDS|MSG>, ...]
  zmq::socket_t sched_events;
};

struct HubOptions {
  wire::SessionConfig session;
  int ping_ms = 3000;
  int max_misses = 10;
  wire::Json engine_connection_info;  // for registration_reply.connection_info
  std::filesystem::path engine_state_file;
  bool restore = false;
  std::size_t recent_completed = 1000;  // msg_ids kept per engine for verbose queue_status
  // Completed msg_ids answered from memory by status-only result requests; older ones are
  // looked up in the record store. Python keeps them all, which grows without bound.
  std::size_t completed_window = 200000;
  // The hub reads the task copies from the schedulers at most once per this interval (0: as
  // they come), so that one wake-up takes in several.
  std::chrono::milliseconds monitor_pace{2};
  // Every socket-monitor event of hb_pong (the hub acts on DISCONNECTED itself), for the
  // controller's handshake log.
  std::function<void(const net::SocketEvent&)> on_heart_connection_event;
};

class Hub {
 public:
  Hub(HubSockets sockets, HubOptions options, std::unique_ptr<db::TaskDb> db);
  ~Hub();  // writes a pending engine-state update
  void attach(net::Reactor& reactor);
  // Called when a client asked the hub to shut down (after the reply and notification).
  std::function<void()> on_shutdown;

  std::size_t engine_count() const { return registry_.engines().size(); }
  // The hub's part of a status snapshot (engines, tasks, the store, its messages and bad input),
  // read after the monitor pipe so that every result already sent is counted (hub_status.cpp).
  void fill_status(status::StatusSnapshot& out);
  // Answers a status_request (ours; Python's clients never send one) with the whole snapshot:
  // the controller sets this to its StatusCollector.
  std::function<void(std::function<void(status::StatusSnapshot)>)> gather_status;
  // An adapt_report from ipcluster's adaptive engines: the section the status page shows.
  std::function<void(wire::Json)> on_adapt_report;
  // One message from the registration/query port (identities first), as the reactor hands it
  // over; public for the fuzz target that drives every query handler without a network.
  void handle_query(wire::Frames&& frames);

 private:
  // sockets
  void on_query();
  void on_monitor();
  void on_monitor_paced();
  void on_pong();
  void on_connection_events();
  void on_subscription();
  void beat();

  // registration
  void register_engine(const std::vector<std::string>& route, const wire::Message& msg);
  void unregister_engine(const std::vector<std::string>& route, const wire::Message& msg);
  // Carries out what the registry decided: logs, scheduler events, notifications, stranded
  // tasks, the state file.
  void apply(const EngineRegistry::Events& events);
  void engine_gone(int id, const std::string& uuid, Departure why);
  void sched_event(const char* what, const std::string& uuid);
  void save_engine_state();
  void load_engine_state();
  void notify(std::string_view msg_type, wire::Json content, wire::Json parent = wire::Json::object());
  void reping_soon();
  std::chrono::milliseconds reping_interval() const;
  void reping_tick(std::chrono::milliseconds delay);
  void save_engine_state_soon();

  // queries
  void send_reply(const std::vector<std::string>& route, std::string_view msg_type,
                  wire::Json content, const wire::Json& parent,
                  wire::Frames buffers = {});
  void connection_request(const std::vector<std::string>& route, const wire::Message& msg);
  void queue_request(const std::vector<std::string>& route, const wire::Message& msg);
  void result_request(const std::vector<std::string>& route, const wire::Message& msg);
  void history_request(const std::vector<std::string>& route, const wire::Message& msg);
  void db_request(const std::vector<std::string>& route, const wire::Message& msg);
  void purge_request(const std::vector<std::string>& route, const wire::Message& msg);
  void resubmit_request(const std::vector<std::string>& route, const wire::Message& msg);
  void shutdown_request(const std::vector<std::string>& route, const wire::Message& msg);
  void become_dask_request(const std::vector<std::string>& route, const wire::Message& msg);
  void stop_distributed_request(const std::vector<std::string>& route, const wire::Message& msg);
  void status_request(const std::vector<std::string>& route, const wire::Message& msg);
  void drain_request(const std::vector<std::string>& route, const wire::Message& msg);
  void adapt_report(const std::vector<std::string>& route, const wire::Message& msg);
  void sample_status();
  std::optional<int> engine_id(const std::string& uuid) const { return registry_.id_of(uuid); }
  // Maps a targets argument to engine ids; error text as Python's IndexError on failure.
  std::optional<std::vector<int>> validate_targets(const wire::Json& targets, std::string& error);

  // records
  // What a record takes from a request or a reply. The JSON parts are trees (copies the hub
  // parsed) or db::raw_json text (task copies, kept unparsed until the record is read).
  struct MessageParts {
    wire::Json header, metadata, content;
    db::Buffers buffers;
  };
  struct RequestParts : MessageParts {
    std::string msg_id;
    wire::Json submitted, client_uuid;
    std::optional<wire::Json> label;
  };
  struct ResultParts : MessageParts {
    std::string msg_id;  // the request's
    std::string engine;  // metadata's "engine", else the routing identity
    wire::Json started, completed;
    // The request's header (the reply's parent), kept only for a request the ledger does not
    // know (scheduled before a restart), whose record it then starts.
    std::optional<wire::Json> request_header;
    status::TaskKind kind = status::TaskKind::Direct;
    bool ok = true;  // metadata status "ok"
  };
  // A task copy from the task thread, recorded without parsing what the task thread did not
  // (`request`: an intask copy; otherwise an outtask copy). False when the copy lacks the parts
  // the hub indexes, or a part is not a JSON object; the caller then decodes it in full.
  bool record_task_copy(bool request, service::AuthenticatedCopy& copy);
  // `engine`: a mux request's engine; `task_engine`: where a task request went at once
  void save_request(wire::Message&& m, const char* queue, const std::string* engine,
                    const std::string* task_engine = nullptr);
  void record_request(RequestParts&& r, const char* queue, const std::string* engine,
                      const std::string* task_engine);
  void save_result(wire::Message&& msg, const std::string& engine_hint, status::TaskKind kind);
  void record_result(ResultParts&& r);
  // Counts a result in stats_, with its duration and, for a failure, its error.
  void count_result(const ResultParts& r, std::optional<int> engine);
  void save_destination(const std::string& msg_id, const std::string& engine);
  void save_iopub(const wire::Message& msg);
  void fail_stranded(int id, const std::string& uuid, std::vector<std::string> msg_ids);
  // After a restart with --restore: the store's requests without a result go back into the
  // ledger, and the load-balanced ones to the task scheduler (restore events), so that each gets
  // an outcome.
  void restore_unfinished_tasks();
  void db_error(const db::DbError& e, const char* what, const std::string& msg_id);
  // A record culled for size (DictDB): what arrives for it later is dropped, logged at DEBUG.
  bool culled(const std::string& msg_id, const char* what);

  HubSockets s_;
  HubOptions options_;
  std::unique_ptr<db::TaskDb> db_;
  wire::Session session_;
  net::Reactor* reactor_ = nullptr;
  bool monitor_paused_ = false;
  EngineRegistry registry_;
  TaskLedger ledger_;
  std::shared_ptr<spdlog::logger> log_;
  log::Tally problems_;  // bad input and failing writes, counted per kind
  status::TaskStats stats_;
  std::uint64_t queries_ = 0;  // messages on the registration/query port
  std::set<int> draining_;     // engines being retired (drain_request), until they leave
  TimePoint started_{};

  // After a restart with --restore, clients reconnect their notification subscriptions within
  // moments; restored engines that leave in that window (a nanny's unregistration queued while
  // the controller was down, a dead engine's closed connection) are announced again to each new
  // subscriber, or the clients that knew them would wait on them forever.
  std::unordered_set<std::string> restored_;
  TimePoint restore_window_end_{};
  std::vector<std::pair<int, std::string>> restored_departures_;
  bool shutting_down_ = false;
  bool reping_active_ = false;
  TimePoint reping_deadline_{};
  bool state_write_pending_ = false;
  std::unique_ptr<DaskScheduler> dask_;
};

}  // namespace ipp::controller::hub
