#pragma once
// StartupMonitor: the sans-I/O part of `ipcluster start` after the engines were launched. It is
// fed engine exits, registration counts (from probing the controller) and clock ticks, and says
// what to report and whether the cluster must come down.
//
// Mirrors IPClusterStart (ipyparallel/cluster/app.py): if every engine stops within
// `early_shutdown` seconds of being started the cluster is torn down ("Engines shutdown early,
// they probably failed to connect"); engine deaths after that window are only logged. Unlike
// Python, which prints "Engines appear to have started successfully" after a fixed 30 s, success
// is reported as soon as all engines have registered with the controller, with progress lines
// ("4/6 engines registered") before that.
//
// Owned by the ipcluster main thread; lives as long as one engine start.
#include <ipp/util/clock.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace ipp::cluster {

struct MonitorAction {
  enum class Kind {
    Progress,       // info: "<k>/<n> engines registered"
    Success,        // info: "Engines appear to have started successfully"
    Warning,        // warning text in `message`
    EarlyShutdown,  // error: tear the cluster down, show the engines' output
  };
  Kind kind;
  std::string message;
};

class StartupMonitor {
 public:
  StartupMonitor(int expected, std::chrono::milliseconds early_shutdown, TimePoint started);

  // Latest count of engines the controller knows (registration has completed).
  std::vector<MonitorAction> on_registered(int count, TimePoint now);
  // One launched engine process has exited (or was found dead).
  std::vector<MonitorAction> on_engine_exit(TimePoint now);
  // A replacement for an engine that exited was started.
  void on_engine_restarted() {
    ++alive_;
    all_dead_reported_ = false;
  }
  std::vector<MonitorAction> on_tick(TimePoint now);

  // Whether the controller should be asked for its engine count now (1 s while starting,
  // 5 s after the early-shutdown window while engines are still missing, never after success).
  bool wants_probe(TimePoint now) const;
  void probed(TimePoint now) { last_probe_ = now; probed_once_ = true; }

  int expected() const { return expected_; }
  int registered() const { return registered_; }
  int alive() const { return alive_; }
  bool succeeded() const { return succeeded_; }
  bool shut_down() const { return shut_down_; }

 private:
  bool in_window(TimePoint now) const { return now - started_ < early_shutdown_; }

  int expected_;
  int alive_;
  int registered_ = 0;
  std::chrono::milliseconds early_shutdown_;
  TimePoint started_;
  TimePoint last_probe_{};
  bool probed_once_ = false;
  bool succeeded_ = false;
  bool shut_down_ = false;
  bool window_reported_ = false;
  bool all_dead_reported_ = false;
};

}  // namespace ipp::cluster
