#include <ipp/cluster/adaptive_policy.hpp>
#include <ipp/config/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ipp::cluster {

namespace {

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void AdaptiveSettings::check() const {
  using config::ConfigError;
  if (max <= 0) throw ConfigError("Cluster.adapt_max (--max): must be given and above 0");
  if (min < 0) throw ConfigError("Cluster.adapt_min (--min): must not be negative");
  if (min > max) {
    throw ConfigError(fmt::format("Cluster.adapt_min (--min={}) is above Cluster.adapt_max (--max={})",
                                  min, max));
  }
  if (!(target_duration > 0)) throw ConfigError("Cluster.adapt_target_duration: must be above 0");
  if (!(idle_timeout >= 0)) throw ConfigError("Cluster.adapt_idle_timeout (--idle-timeout): must not be negative");
  if (!(interval > 0)) throw ConfigError("Cluster.adapt_interval: must be above 0");
}

const char* action_name(AdaptiveDecision::Action a) {
  switch (a) {
    case AdaptiveDecision::Action::Grow: return "grow";
    case AdaptiveDecision::Action::Shrink: return "shrink";
    default: return "hold";
  }
}

AdaptivePolicy::AdaptivePolicy(AdaptiveSettings s) : s_(s) {}

void AdaptivePolicy::limit_to(int n) {
  s_.max = std::max(1, std::min(s_.max, n));
  s_.min = std::min(s_.min, s_.max);
}

void AdaptivePolicy::learn_duration(const AdaptiveObservation& o) {
  if (o.completed_timed < last_count_ || o.duration_sum < last_sum_) {
    // a restarted controller counts from zero again
    last_count_ = 0;
    last_sum_ = 0.0;
  }
  const std::uint64_t n = o.completed_timed - last_count_;
  if (n > 0) {
    const double recent = (o.duration_sum - last_sum_) / double(n);
    // Recent tasks weigh more, a single odd one less: weight grows with how many there were.
    const double w = std::min(1.0, double(n) / 20.0);
    mean_ = mean_ ? (1 - w) * *mean_ + w * recent : recent;
  }
  last_count_ = o.completed_timed;
  last_sum_ = o.duration_sum;
}

AdaptiveDecision AdaptivePolicy::observe(const AdaptiveObservation& o, int starting,
                                         TimePoint now) {
  learn_duration(o);
  AdaptiveDecision d;
  int active = 0;
  for (const auto& e : o.engines) active += e.draining ? 0 : 1;
  const int capacity = active + std::max(starting, 0);
  d.from = d.to = capacity;

  // idle times
  std::map<int, TimePoint> idle;
  for (const auto& e : o.engines) {
    if (!e.idle || e.draining) continue;
    auto it = idle_since_.find(e.id);
    idle[e.id] = it != idle_since_.end() ? it->second : now;
  }
  idle_since_ = std::move(idle);

  if (capacity < s_.min) {
    d.action = AdaptiveDecision::Action::Grow;
    d.to = s_.min;
    d.start = s_.min - capacity;
    d.reason = fmt::format("{} engines, below the minimum of {}", capacity, s_.min);
    return d;
  }
  const std::uint64_t tasks = o.waiting + o.running;
  if (o.waiting > 0 && capacity < s_.max) {
    // Without a timed task yet, each task is taken to last the whole target.
    const double per_task = mean_.value_or(s_.target_duration);
    const double work = double(tasks) * per_task;
    const double eta = work / double(std::max(capacity, 1));
    if (eta > s_.target_duration) {
      int want = static_cast<int>(std::ceil(work / s_.target_duration));
      want = std::clamp(want, s_.min, s_.max);
      if (want > capacity) {
        d.action = AdaptiveDecision::Action::Grow;
        d.to = want;
        d.start = want - capacity;
        d.reason = fmt::format(
            "{} tasks waiting and {} running x {:.3f} s{} over {} engines = {:.1f} s > target {} s",
            o.waiting, o.running, per_task, mean_ ? "" : " (no task timed yet)", capacity, eta,
            s_.target_duration);
        return d;
      }
    }
  }
  if (o.waiting == 0 && active > s_.min) {
    std::vector<std::pair<TimePoint, int>> long_idle;
    for (const auto& [id, since] : idle_since_) {
      if (seconds(now - since) >= s_.idle_timeout) long_idle.emplace_back(since, id);
    }
    std::sort(long_idle.begin(), long_idle.end());
    const int can_retire = active - s_.min;
    for (const auto& [since, id] : long_idle) {
      if (static_cast<int>(d.retire.size()) >= can_retire) break;
      d.retire.push_back(id);
    }
    if (!d.retire.empty()) {
      d.action = AdaptiveDecision::Action::Shrink;
      d.to = capacity - static_cast<int>(d.retire.size());
      d.reason = fmt::format("{} engine{} idle for {} s or more, nothing waiting",
                             d.retire.size(), d.retire.size() == 1 ? "" : "s", s_.idle_timeout);
      for (int id : d.retire) idle_since_.erase(id);
    }
  }
  return d;
}

}  // namespace ipp::cluster
