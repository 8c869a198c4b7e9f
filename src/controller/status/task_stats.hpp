#pragma once
// TaskStats: the hub's running account of tasks for the status page and /metrics: counts per
// kind, a duration histogram, per-engine failures, the last failures and the throughput series.
// Sans-I/O: the hub feeds it what its records see; times are given, not read.
//
// Owning thread: the controller's main reactor. Memory: bounded (20 failures, 300 samples, one
// entry per engine id ever seen).
#include "status_snapshot.hpp"

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>

namespace ipp::controller::status {

enum class TaskKind { LoadBalanced, Direct };
const char* kind_name(TaskKind k);

class TaskStats {
 public:
  static constexpr std::size_t kFailuresKept = 20;
  static constexpr std::size_t kSamplesKept = 300;

  TaskStats();

  void submitted(TaskKind k);
  // A result. `duration_seconds` from the engine's started/completed stamps (absent when either
  // is missing or unreadable: the task is counted, not timed).
  void finished(TaskKind k, bool ok, std::optional<int> engine,
                std::optional<double> duration_seconds);
  void failure(TaskFailure f);
  void sample(const ThroughputSample& s);

  std::uint64_t completed_total() const { return completed_total_; }
  std::uint64_t failed_on(int engine) const;
  // Fills tasks, durations, throughput and failures of `out`.
  void fill(StatusSnapshot& out) const;

 private:
  std::map<std::string, TaskCounts> counts_;
  DurationHistogram durations_;
  std::map<int, std::uint64_t> failed_by_engine_;
  std::deque<TaskFailure> failures_;  // newest first
  std::deque<ThroughputSample> samples_;
  std::uint64_t completed_total_ = 0;
};

}  // namespace ipp::controller::status
