#pragma once
// TaskScheduler: the load-balancing algorithm of ipyparallel's Python TaskScheduler
// (controller/task_scheduler.py; protocol.md 6.3-6.7) as a sans-I/O state machine over msg_ids
// and engine uuids. Every input is (event, now) and returns the Actions the socket adapter must
// perform; nothing here touches frames, sockets or clocks.
//
// Owning thread: the task-scheduler thread (one instance per controller); not thread-safe.
// Lifetime: the controller's. Memory: one small entry per msg_id ever seen (needed to answer
// InvalidDependency for unknown ids, as Python's all_ids), plus the queued/running jobs.
//
// Adapter contract:
//  * On a client request: store the original frames under msg_id, forward the `intask` copy to
//    the hub, then call submit(TaskSpec::from_metadata(msg_id, metadata), now).
//  * Dispatch{msg_id, engine}: send the stored request frames to that engine (engine identity
//    first) and publish task_destination {msg_id, engine_id: engine} (`tracktask`). A task may be
//    dispatched several times (retries, refused dependencies): keep the frames until Forget.
//  * Relay{msg_id, engine}: forward the engine reply being handled in reply() to the client and
//    publish it as `outtask`.
//  * Fail{msg_id, ename, evalue}: fabricate the scheduler error apply_reply (protocol.md 6.6,
//    metadata {}, content wrapped ename/evalue, engine_info {}), send to the client, `outtask`.
//  * EngineFailure{msg_id, engine, evalue}: the engine died with this task (4.7/6.7); the
//    scheduler already processed it as a failed reply (retries were honoured internally, so this
//    only appears when the failure is final). Fabricate the apply_reply with metadata
//    {status: "error", engine, date} and wrapped EngineError(evalue), send it to the client with
//    the engine uuid as extra identity, publish `outtask`.
//  * Forget{msg_id}: the task is finished for the scheduler; free its stored frames. Always comes
//    after the action that needed them.
//  * Call tick(now) when next_deadline() passes (task timeouts, 5 s stranded-task grace).
#include "ipp/controller/sched/dependency.hpp"
#include "ipp/controller/sched/policies.hpp"
#include "ipp/util/clock.hpp"
#include "ipp/wire/message.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace ipp::controller::sched {

// What a client asked for in the request metadata (protocol.md 6.1).
struct TaskSpec {
  std::string msg_id;
  std::vector<std::string> targets;  // engine uuids; empty = any engine
  int retries = 0;
  Dependency after;
  Dependency follow;
  double timeout = 0.0;              // seconds waiting in the scheduler; 0 = none
  bool invalid_dependency = false;   // after/follow could not be parsed -> InvalidDependency

  // Tolerant of missing keys and nulls (Python's md.get(key, default)); a single string target is
  // taken as one uuid; non-numeric timeout/retries count as absent.
  static TaskSpec from_metadata(std::string msg_id, const wire::Json& metadata);
};

// Why a signed request on the task port cannot be a task: a msg_type the scheduler does not
// schedule, or metadata of the wrong type or range (targets not a list of uuids, retries not a
// non-negative integer, timeout not a non-negative number). The scheduler answers such a request
// with this error at once and never queues it, so it cannot hold an engine's slot. (Python's
// forwards it, and an engine that never answers it blocks its slot for good.) Dependencies are
// checked by the scheduler itself (InvalidDependency).
struct RequestError {
  std::string ename;
  std::string evalue;
};
std::optional<RequestError> check_task_request(std::string_view msg_type,
                                               const wire::Json& metadata);

struct Dispatch {
  std::string msg_id;
  std::string engine_uuid;
};
struct Relay {
  std::string msg_id;
  std::string engine_uuid;
  bool success = true;
};
struct Fail {
  std::string msg_id;
  std::string ename;   // InvalidDependency, ImpossibleDependency, TaskTimeout
  std::string evalue;  // "" as Python's bare exception classes
};
struct EngineFailure {
  std::string msg_id;
  std::string engine_uuid;
  std::string evalue;  // "Engine '<uuid>' died while running task '<msg_id>'"
};
struct Forget {
  std::string msg_id;
};
using Action = std::variant<Dispatch, Relay, Fail, EngineFailure, Forget>;
using Actions = std::vector<Action>;

class TaskScheduler {
 public:
  struct Options {
    Scheme scheme = Scheme::LeastLoad;
    int hwm = 1;  // max outstanding tasks per engine; 0 = unlimited
    std::uint64_t seed = 0x1ab5eed;
    Duration stranded_grace = std::chrono::seconds(5);
    // Finished msg_ids remembered for dependencies (Python remembers all of them, which grows
    // without bound over a long run). The oldest beyond this count are forgotten: a new task
    // naming one of them gets InvalidDependency, as for any id the scheduler never saw.
    std::size_t finished_limit = 200000;
  };

  TaskScheduler() : TaskScheduler(Options{}) {}
  explicit TaskScheduler(Options options);

  // A new request. A msg_id already known to the scheduler is ignored (returns nothing).
  Actions submit(TaskSpec spec, TimePoint now);
  // A task a previous controller had not finished when it died, read back from the task store
  // after a restart with --restore, in submission order. `engine_uuid` empty: it waited for an
  // engine, and is queued as if submitted now. Otherwise it is taken as running on that engine
  // (no Dispatch: the engine has it); if that engine is not registered, it died with the task,
  // which is retried or fails as EngineError. Dependency ids the scheduler does not know finished
  // before the restart and no longer constrain the task. A reply from any engine to a restored
  // task still queued here is accepted: its destination had not reached the store yet.
  Actions restore(TaskSpec spec, const std::string& engine_uuid, TimePoint now);
  // Engine joined (registration_notification / connection_reply): head of the LRU line, load 0.
  Actions engine_registered(const std::string& uuid, TimePoint now);
  // Engine left: it gets no more work; its running tasks fail as EngineError (or are retried
  // elsewhere, per their retries) after the grace unless their replies arrive first. An engine
  // whose process is known to be gone (`lost`: its connection closed, or its heart failed)
  // answers nothing more: its tasks are retried or failed at once. Queued tasks whose targets
  // are now all gone fail at once with ImpossibleDependency.
  Actions engine_unregistered(const std::string& uuid, TimePoint now, bool lost = false);
  // Retirement (adaptive engines): a draining engine gets no new task, finishes those it holds
  // and stays registered until it leaves. Load-balanced tasks that can run nowhere else wait
  // (and fail with ImpossibleDependency when it leaves, as for any departed target).
  // undrain_engine puts it back in service. Unknown uuids are ignored.
  Actions drain_engine(const std::string& uuid, TimePoint now);
  Actions undrain_engine(const std::string& uuid, TimePoint now);
  bool is_draining(const std::string& uuid) const;
  // An engine reply: status_ok = metadata.status == "ok"; dependencies_met =
  // metadata.dependencies_met (default true). Replies for unknown msg_ids, or from an engine
  // that is not running that task, are ignored (empty Actions), as Python logs and drops them.
  Actions reply(const std::string& msg_id, const std::string& engine_uuid, bool status_ok,
                bool dependencies_met, TimePoint now);
  // Fires due task timeouts and stranded-task failures.
  Actions tick(TimePoint now);
  // Earliest time tick() has work (may be early: a stale timer only costs a spurious tick).
  std::optional<TimePoint> next_deadline() const;

  // --- introspection (tests, benchmarks, hub queries) ---
  const Options& options() const { return options_; }
  std::size_t queued_count() const { return active_jobs_ - running_jobs_; }
  std::size_t running_count() const { return running_jobs_; }
  std::size_t known_task_count() const { return tasks_.size(); }
  // Failed runs sent to another engine because the task had retries left.
  std::uint64_t retried_count() const { return retried_; }
  std::size_t engine_count() const { return live_.size(); }
  std::vector<std::string> engines_lru() const;     // live engines, least recently used first
  int load(const std::string& uuid) const;          // -1 for an unknown engine
  bool is_queued(const std::string& msg_id) const;
  // The scheduler has this task (queued, running, or finished within finished_limit). A reply
  // for a task it never had was scheduled by a controller before a restart.
  bool knows(const std::string& msg_id) const { return tasks_.count(msg_id) != 0; }
  std::optional<std::string> running_on(const std::string& msg_id) const;

 private:
  static constexpr std::uint32_t kNoEngine = 0xffffffffu;
  enum class State : std::uint8_t { Queued, Running, Completed, Failed };
  enum class RunResult { Ran, Failed, Wait };

  struct Job {
    std::string msg_id;
    std::uint64_t seq = 0;             // submission order
    std::vector<std::string> targets;  // sorted, unique
    std::vector<std::string> blacklist;
    int retries = 0;
    Dependency after;
    Dependency follow;
    double timeout = 0.0;
    std::uint32_t engine = kNoEngine;  // while running
    std::uint64_t timeout_gen = 0;
    bool in_runnable = false;
    bool restored = false;  // read back from the task store after a restart
  };
  struct TaskInfo {
    State state = State::Queued;
    std::uint32_t engine = kNoEngine;  // destination once finished on an engine
    std::unique_ptr<Job> job;          // while queued or running
  };
  struct Engine {
    std::string uuid;
    int load = 0;
    bool alive = true;
    bool draining = false;
    std::unordered_set<std::string> pending;
  };
  struct Timer {
    TimePoint deadline;
    std::string msg_id;
    std::uint64_t gen;
    bool operator>(const Timer& o) const { return deadline > o.deadline; }
  };
  struct Stranded {
    TimePoint deadline;
    std::uint32_t slot;
  };

  bool completed(const std::string& id) const;
  bool failed(const std::string& id) const;
  bool met_on(const Dependency& dep, std::uint32_t slot) const;
  bool has_room(const Engine& e) const {
    return !e.draining && (options_.hwm == 0 || e.load < options_.hwm);
  }
  bool blacklisted(const Job& job, const std::string& uuid) const;

  // Registers a new queued job for `spec`; nullptr for a msg_id already known.
  Job* new_job(TaskSpec& spec);
  RunResult maybe_run(Job& job, Actions& out);
  void dispatch(Job& job, std::uint32_t slot, Actions& out);
  // Marks `job` as running on `slot` without sending it (the engine already has it).
  void place(Job& job, std::uint32_t slot);
  void save_unmet(Job& job, TimePoint now);
  void add_runnable(Job& job);
  void remove_runnable(Job& job);
  void fail_job(Job& job, const char* ename, Actions& out);
  void handle_reply(Job& job, std::uint32_t slot, bool ok, bool deps_met, bool engine_died,
                    Actions& out, TimePoint now);
  void requeue(Job& job, const std::string& engine_uuid, Actions& out, TimePoint now);
  void finish(Job& job, std::uint32_t slot, bool ok, bool engine_died, Actions& out);
  void propagate(const std::string& id, Actions& out);
  void scan_engine(std::uint32_t slot, Actions& out);
  void drain(Actions& out);
  // The running tasks of a departed engine: retried or failed as EngineError.
  void fail_stranded(std::uint32_t slot, Actions& out, TimePoint now);
  void remember_finished(const std::string& msg_id);

  Options options_;
  Rng rng_;
  std::uint64_t next_seq_ = 0;
  std::size_t active_jobs_ = 0;
  std::size_t running_jobs_ = 0;
  std::uint64_t retried_ = 0;

  std::unordered_map<std::string, TaskInfo> tasks_;
  std::vector<Engine> engines_;  // by slot; a slot per registration, never reused
  std::unordered_map<std::string, std::uint32_t> live_;
  std::vector<std::uint32_t> lru_;
  std::size_t available_ = 0;  // live engines with room

  // Queued jobs whose `after` is met, in submission order: untargeted ones, and targeted ones
  // under each of their targets, so an engine with room only looks at jobs it could take.
  std::map<std::uint64_t, Job*> runnable_any_;
  std::unordered_map<std::string, std::map<std::uint64_t, Job*>> runnable_targeted_;
  // Queued msg_ids waiting on each unfinished dependency id (lazy: stale entries are skipped).
  std::unordered_map<std::string, std::vector<std::string>> graph_;

  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::deque<Stranded> stranded_;

  // Work produced while handling an event, processed by drain() in order.
  std::deque<std::string> finished_;
  std::deque<std::string> finished_history_;  // oldest first, bounded by finished_limit
  std::deque<std::uint32_t> to_scan_;

  std::vector<int> scratch_loads_;
  std::vector<std::uint32_t> scratch_slots_;
};

}  // namespace ipp::controller::sched
