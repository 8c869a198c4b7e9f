#pragma once
// AdaptivePolicy: how many engines a cluster should run for the work its controller reports
// (`ipcluster start --adapt --min=N --max=M --idle-timeout=S`; c.Cluster.adapt_*). Python's
// ipcluster has nothing like it; Dask's adapt() is the model.
//
// Each observation (the controller's status, every `interval`) gives the load-balanced tasks
// waiting and running, the engines and whether each is idle, and the duration histogram's
// running totals, from which the policy keeps a smoothed mean task duration.
//
//  * Grow: when the engines would need longer than `target_duration` to get through the work
//    (waiting + running tasks x mean duration / engines, counting engines already starting), or
//    when fewer than `min` run. The new size is the work over the target duration, in one batch,
//    within [min, max]. Engines started but not yet registered count as there: no second batch
//    for the same backlog.
//  * Shrink: engines that stayed idle (no task at all) for `idle_timeout`, while nothing waits,
//    are retired, longest idle first, down to `min`. Any task on an engine restarts its idle
//    time, so a steady trickle of work keeps the engines it needs.
//  Growing needs the backlog to be there now; shrinking needs idleness to last: the two cannot
//  alternate from one observation to the next.
//
// Sans-I/O: observations in, decisions out; the runner starts engines and retires them.
#include <ipp/util/clock.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

struct AdaptiveSettings {
  int min = 1;
  int max = 0;                   // required: > 0 and >= min
  double target_duration = 1.0;  // s: how long the waiting work may take
  double idle_timeout = 60.0;    // s
  double interval = 1.0;         // s between observations
  // Validates the settings; throws config::ConfigError naming the trait.
  void check() const;
};

struct AdaptiveObservation {
  struct Engine {
    int id = -1;
    std::string uuid;
    bool idle = true;      // holds no task, load-balanced or direct
    bool draining = false; // being retired
  };
  std::vector<Engine> engines;
  std::uint64_t waiting = 0;  // load-balanced tasks no engine holds
  std::uint64_t running = 0;  // tasks engines hold
  std::uint64_t completed_timed = 0;  // duration histogram: count
  double duration_sum = 0.0;          // duration histogram: sum (s)
};

struct AdaptiveDecision {
  enum class Action { Hold, Grow, Shrink };
  Action action = Action::Hold;
  int from = 0;   // engines counted (registered + starting - draining)
  int to = 0;
  int start = 0;               // Grow: engines to start
  std::vector<int> retire;     // Shrink: engine ids
  std::string reason;
};
const char* action_name(AdaptiveDecision::Action a);

class AdaptivePolicy {
 public:
  explicit AdaptivePolicy(AdaptiveSettings s);

  // `starting`: engines launched and not registered yet.
  AdaptiveDecision observe(const AdaptiveObservation& o, int starting, TimePoint now);
  // The smoothed mean task duration (s), once tasks have been timed.
  std::optional<double> mean_duration() const { return mean_; }
  const AdaptiveSettings& settings() const { return s_; }
  // The engine set can run at most `n` engines (its SSH hosts' slots): max becomes n, and min
  // too when above it.
  void limit_to(int n);

 private:
  void learn_duration(const AdaptiveObservation& o);

  AdaptiveSettings s_;
  std::optional<double> mean_;
  std::uint64_t last_count_ = 0;
  double last_sum_ = 0.0;
  std::map<int, TimePoint> idle_since_;  // engine id -> first observation idle
};

}  // namespace ipp::cluster
