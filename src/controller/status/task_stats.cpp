#include "task_stats.hpp"

#include <algorithm>

namespace ipp::controller::status {

const char* kind_name(TaskKind k) {
  return k == TaskKind::LoadBalanced ? "load_balanced" : "direct";
}

TaskStats::TaskStats() {
  // From a millisecond to ten minutes: the span of tasks people farm out.
  durations_.bounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                       1.0,   2.5,   5.0,  10.0,  30.0, 60.0, 300.0, 600.0};
  durations_.buckets.assign(durations_.bounds.size() + 1, 0);
  for (auto k : {TaskKind::LoadBalanced, TaskKind::Direct}) counts_[kind_name(k)];
}

void TaskStats::submitted(TaskKind k) { ++counts_[kind_name(k)].submitted; }

void TaskStats::finished(TaskKind k, bool ok, std::optional<int> engine,
                         std::optional<double> duration_seconds) {
  TaskCounts& c = counts_[kind_name(k)];
  ++c.completed;
  ++completed_total_;
  if (!ok) {
    ++c.failed;
    if (engine) ++failed_by_engine_[*engine];
  }
  if (duration_seconds && *duration_seconds >= 0) {
    const auto& b = durations_.bounds;
    auto at = std::lower_bound(b.begin(), b.end(), *duration_seconds) - b.begin();
    ++durations_.buckets[static_cast<std::size_t>(at)];
    ++durations_.count;
    durations_.sum += *duration_seconds;
  }
}

void TaskStats::failure(TaskFailure f) {
  failures_.push_front(std::move(f));
  if (failures_.size() > kFailuresKept) failures_.pop_back();
}

void TaskStats::sample(const ThroughputSample& s) {
  samples_.push_back(s);
  if (samples_.size() > kSamplesKept) samples_.pop_front();
}

std::uint64_t TaskStats::failed_on(int engine) const {
  auto it = failed_by_engine_.find(engine);
  return it == failed_by_engine_.end() ? 0 : it->second;
}

void TaskStats::fill(StatusSnapshot& out) const {
  out.tasks = counts_;
  out.durations = durations_;
  out.throughput.assign(samples_.begin(), samples_.end());
  out.failures.assign(failures_.begin(), failures_.end());
}

}  // namespace ipp::controller::status
