#include "task_ledger.hpp"

namespace ipp::controller::hub {

std::vector<std::string> TaskLedger::engine_removed(int id) {
  auto it = engines_.find(id);
  if (it == engines_.end()) return {};
  std::vector<std::string> stranded(it->second.queue.begin(), it->second.queue.end());
  engines_.erase(it);
  return stranded;
}

void TaskLedger::request_direct(const std::string& msg_id, std::optional<int> engine) {
  pending_.insert(msg_id);
  if (!engine) return;
  auto it = engines_.find(*engine);
  if (it == engines_.end()) return;
  it->second.queue.insert(msg_id);
  owner_[msg_id] = *engine;
}

void TaskLedger::request_task(const std::string& msg_id) {
  pending_.insert(msg_id);
  unassigned_.insert(msg_id);
}

void TaskLedger::assign(const std::string& msg_id, std::optional<int> engine) {
  unassigned_.erase(msg_id);
  if (!engine) return;
  auto to = engines_.find(*engine);
  if (to == engines_.end()) return;
  // A retried task moves to its new engine.
  if (auto prev = owner_.find(msg_id); prev != owner_.end()) {
    if (auto e = engines_.find(prev->second); e != engines_.end()) e->second.tasks.erase(msg_id);
  }
  to->second.tasks.insert(msg_id);
  owner_[msg_id] = *engine;
}

void TaskLedger::complete(const std::string& msg_id, std::optional<int> engine) {
  pending_.erase(msg_id);
  if (completed_ids_.insert(msg_id).second) {
    completed_order_.push_back(msg_id);
    if (completed_order_.size() > options_.completed_window) {
      completed_ids_.erase(completed_order_.front());
      completed_order_.pop_front();
    }
  }
  unassigned_.erase(msg_id);
  std::optional<int> eid = engine;
  if (auto o = owner_.find(msg_id); o != owner_.end()) {
    eid = o->second;
    owner_.erase(o);
  }
  if (!eid) return;
  auto e = engines_.find(*eid);
  if (e == engines_.end()) return;
  EngineTasks& t = e->second;
  t.queue.erase(msg_id);
  t.tasks.erase(msg_id);
  t.completed += 1;
  t.recent.push_back(msg_id);
  if (t.recent.size() > options_.recent_completed) t.recent.pop_front();
}

const TaskLedger::EngineTasks* TaskLedger::engine(int id) const {
  auto it = engines_.find(id);
  return it == engines_.end() ? nullptr : &it->second;
}

}  // namespace ipp::controller::hub
