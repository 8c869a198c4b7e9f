#pragma once
// EngineRestartPolicy: whether, and after how long, `ipcluster` replaces an engine of a set that
// has died (c.Cluster.engine_restart_limit, engine_restart_delay, engine_restart_reset). Off by
// default, as Python's ipcluster has no restarts.
//
// A death counts toward the set's streak unless the engine had run for `reset` seconds or more
// (then the streak starts over): a healthy engine lost to pre-emption or the OOM killer is
// replaced after `delay`, an engine that keeps dying soon after its start is replaced after
// `delay`, 2 x `delay`, 4 x `delay`, ... (at most `max_delay`), and not at all once `limit`
// replacements in a row have died young.
//
// Sans-I/O: takes (event, now), returns decisions; one per engine set, owned by the runner, and
// one for the controller (c.Cluster.controller_restart_*).
#include <ipp/util/clock.hpp>

#include <chrono>

namespace ipp::cluster {

class EngineRestartPolicy {
 public:
  struct Settings {
    int limit = 0;            // restarts in a row; 0 = no restarts
    double delay_s = 1.0;     // before the first restart of a streak
    double max_delay_s = 60.0;
    double reset_s = 60.0;    // an engine that ran this long ends the streak
  };
  struct Decision {
    bool restart = false;
    int attempt = 0;  // restart number within the streak (1-based); on refusal, the streak
    std::chrono::milliseconds after{0};
  };

  explicit EngineRestartPolicy(Settings s) : s_(s) {}

  bool enabled() const { return s_.limit > 0; }
  int limit() const { return s_.limit; }
  // An engine of the set died after running `uptime_s` seconds (negative: unknown, counts as
  // young).
  Decision on_exit(double uptime_s);
  int restarts() const { return total_; }

 private:
  Settings s_;
  int streak_ = 0;
  int total_ = 0;
};

}  // namespace ipp::cluster
