#pragma once
// ClusterRunner: one `ipcluster start` (controller + engines) or `ipcluster engines` run.
//
// Owned by the main thread, which runs its Reactor (a 250 ms tick, SIGINT/SIGTERM/SIGUSR1/SIGUSR2
// through a signalfd, the registration probe's socket). The controller and the engine sets are
// launchers (ipp/cluster/launcher.hpp) polled on every tick; ControllerReadiness and
// StartupMonitor make the start-up decisions. Lives until the cluster has stopped; the cluster
// file mirrors its state the whole time.
#include "adaptive_link.hpp"

#include <ipp/cluster/adaptive_policy.hpp>
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/controller_readiness.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/engine_restarts.hpp>
#include <ipp/cluster/launcher.hpp>
#include <ipp/cluster/registration_probe.hpp>
#include <ipp/cluster/startup_monitor.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/net/reactor.hpp>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

// What every launcher of this cluster is told (profile, cluster id, environment, logger).
LaunchContext launch_context(const ClusterSettings& s, const ipp::config::ProfileDir& profile,
                             const std::shared_ptr<spdlog::logger>& log);

class ClusterRunner {
 public:
  ClusterRunner(ClusterSettings settings, ipp::config::ProfileDir profile, bool with_controller,
                DaemonNotifier notifier);
  // Runs until the cluster stops; returns the exit status.
  int run();

 private:
  struct LaunchedSet {
    std::string id;  // the cluster file's set id
    std::unique_ptr<EngineSetLauncher> launcher;
    EngineRestartPolicy restarts;
    std::vector<std::pair<TimePoint, int>> restarts_due;  // (when, engines) after back-off
  };

  bool start_controller();
  // The controller stopped after it was ready: restart it (c.Cluster.controller_restart_limit)
  // or stop the cluster.
  void on_controller_stopped(const LauncherEvent& e, TimePoint now);
  void restart_controller();
  void tick();
  void check_readiness(TimePoint now);
  void watch_client_file();
  void on_probe_reply();
  void poll_controller(TimePoint now);
  void start_engines();
  // Makes and starts the engine sets for `n` engines (one set, or one per batch job); returns
  // the engines started and appends each set's start failure to `errors`. Throws when the
  // launchers cannot be made at all.
  int launch_engine_sets(int n, std::vector<std::string>& errors, bool first);
  void poll_engines(TimePoint now);
  void on_engines_stopped(LaunchedSet& set, const LauncherEvent& e);
  void plan_restart(LaunchedSet& set, const LauncherEvent& e);
  void start_due_restarts(LaunchedSet& set, TimePoint now);
  std::string launcher_status() const;
  void handle(const std::vector<MonitorAction>& actions);
  std::string engines_output();
  void stop_all(const std::string& why);
  void fail_start(const std::string& message);
  void write_record();
  void update_engine_states();
  // Adaptive engines (runner_adaptive.cpp): ask the controller every interval, act on the
  // policy's decisions, shut drained engines down once idle, report to the status page.
  void adapt_tick(TimePoint now);
  void on_adapt_status();
  void adapt_apply(const AdaptiveDecision& d);
  // A clean engine exit that a retirement asked for: not a death (no restart, no monitor).
  bool retired_exit(const LauncherEvent& e);
  // Batch engines under --adapt: a job per engine, so growing submits jobs (new engine sets)
  // and a retired engine's job ends; ended sets leave the cluster file, and queued jobs are
  // cancelled once no work waits.
  void adapt_grow_batch(int n);
  void prune_ended_sets();
  void cancel_queued_sets(const AdaptiveObservation& o);
  std::string new_set_id(const std::vector<std::string>& also_taken = {}) const;

  ClusterSettings s_;
  ipp::config::ProfileDir profile_;
  bool with_controller_;
  DaemonNotifier notifier_;
  std::shared_ptr<spdlog::logger> log_;
  ipp::net::Reactor reactor_{"ipcluster"};
  zmq::context_t context_{1};
  ClusterRecord record_;
  std::filesystem::path cluster_file_;
  std::unique_ptr<ControllerLauncher> controller_;
  TimePoint controller_started_{};
  EngineRestartPolicy controller_restarts_;
  std::optional<TimePoint> controller_restart_due_;
  ClusterSettings restore_settings_;  // s_ with --restore, for restarted controllers
  std::vector<LaunchedSet> sets_;
  std::unique_ptr<RegistrationProbe> probe_;
  std::string probe_client_text_;
  std::unique_ptr<ControllerReadiness> readiness_;
  std::unique_ptr<StartupMonitor> monitor_;
  TimePoint started_{};
  TimePoint last_progress_{};
  bool controller_ready_ = false;
  bool engines_started_ = false;
  bool any_registered_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;

  std::unique_ptr<AdaptivePolicy> adapt_;
  std::unique_ptr<AdaptiveLink> adapt_link_;
  TimePoint adapt_next_{};
  std::map<int, std::string> retiring_;  // drained engines: id -> uuid
  std::set<int> shut_down_;              // shutdown_request sent
  int expected_exits_ = 0;               // retired engines whose exit is still to come
  int gone_retirees_ = 0;                // of those, the ones already unregistered
  std::deque<wire::Json> decisions_;     // newest first, for the status page
  int adapt_target_ = 0;
  int jobs_made_ = 0;  // engine launchers made so far (batch script names)
  bool adapt_disabled_ = false;
};

}  // namespace ipp::cluster
