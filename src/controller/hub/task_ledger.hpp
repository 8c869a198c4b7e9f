#pragma once
// TaskLedger: the hub's account of tasks in flight, without sockets: which requests have no result
// yet, which load-balanced tasks no engine holds, what each engine holds (its direct queue and
// its load-balanced tasks) and has finished. It answers queue_request and status-only
// result_request from memory; whole records live in the task store (db::TaskDb).
//
// Owning thread: the controller's main reactor. Lifetime: the controller's. Not thread-safe.
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ipp::controller::hub {

class TaskLedger {
 public:
  struct EngineTasks {
    std::set<std::string> queue;  // direct (mux) msg_ids without a result
    std::set<std::string> tasks;  // load-balanced msg_ids assigned and not finished
    std::size_t completed = 0;
    std::deque<std::string> recent;  // the last completed msg_ids, for verbose queue_status
  };
  struct Options {
    std::size_t recent_completed = 1000;
    // Completed msg_ids answered from memory by status-only result requests; older ones are
    // looked up in the store. Python keeps them all, which grows without bound.
    std::size_t completed_window = 200000;
  };

  explicit TaskLedger(Options options) : options_(options) {}

  void engine_added(int id) { engines_.try_emplace(id); }
  // The engine is gone: returns its direct requests still without a result (they will never be
  // answered); its load-balanced tasks are the scheduler's to retry or fail.
  std::vector<std::string> engine_removed(int id);

  // A direct request to `engine` (its queue; nullopt: an engine the hub does not know).
  void request_direct(const std::string& msg_id, std::optional<int> engine);
  // A load-balanced request, unassigned until assign().
  void request_task(const std::string& msg_id);
  // A load-balanced task went to `engine` (a retry moves it); nullopt: to no engine the hub
  // knows, it is no longer unassigned either.
  void assign(const std::string& msg_id, std::optional<int> engine);
  // A result (or a fabricated failure): the request is complete. `engine` is the engine that
  // answered, used when the ledger did not know where the request went.
  void complete(const std::string& msg_id, std::optional<int> engine);

  bool is_pending(const std::string& msg_id) const { return pending_.count(msg_id) != 0; }
  bool recently_completed(const std::string& msg_id) const {
    return completed_ids_.count(msg_id) != 0;
  }
  const EngineTasks* engine(int id) const;
  const std::unordered_set<std::string>& unassigned() const { return unassigned_; }
  std::size_t pending_count() const { return pending_.size(); }

 private:
  Options options_;
  std::map<int, EngineTasks> engines_;
  std::unordered_set<std::string> pending_;
  std::unordered_set<std::string> unassigned_;
  std::unordered_map<std::string, int> owner_;  // pending msg_id -> engine id
  std::unordered_set<std::string> completed_ids_;
  std::deque<std::string> completed_order_;
};

}  // namespace ipp::controller::hub
