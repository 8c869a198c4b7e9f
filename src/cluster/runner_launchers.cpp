// ClusterRunner's side of the Launcher interface: starting controllers and engine sets through
// launchers, polling them on every tick, and turning their events into log lines, cluster-file
// updates and start-up decisions.
#include "runner.hpp"

#include <ipp/cluster/process.hpp>

namespace ipp::cluster {

namespace {

LaunchContext context_for(const ClusterSettings& s, const ipp::config::ProfileDir& profile,
                          const std::shared_ptr<spdlog::logger>& log) {
  LaunchContext ctx;
  ctx.profile_dir = profile.location().string();
  ctx.cluster_id = s.cluster_id;
  ctx.environment = s.environment;
  ctx.log = log;
  return ctx;
}

}  // namespace

bool ClusterRunner::start_launched_controller() {
  // Connection files left from an earlier run would point at a controller that is gone.
  std::error_code ec;
  std::filesystem::remove(profile_.client_file(s_.cluster_id), ec);
  std::filesystem::remove(profile_.engine_file(s_.cluster_id), ec);
  ctl_launcher_ = make_controller_launcher(s_, context_for(s_, profile_, log_));
  log_->info("Starting controller with <class '{}'>", ctl_launcher_->class_name());
  try {
    ctl_launcher_->start();
  } catch (const std::exception& e) {
    ctl_launcher_.reset();
    fail_start(std::string("The controller could not be started: ") + e.what());
    return false;
  }
  record_.controller = ctl_launcher_->state();
  write_record();
  return true;
}

void ClusterRunner::poll_controller_launcher(TimePoint now) {
  for (const auto& e : ctl_launcher_->poll(now)) {
    switch (e.kind) {
      case LauncherEvent::Kind::Info: log_->info("{}", e.message); break;
      case LauncherEvent::Kind::Warning: log_->warn("{}", e.message); break;
      case LauncherEvent::Kind::Stopped: {
        record_.controller = ctl_launcher_->state();
        if (!controller_ready_) {
          fail_start(e.message + "; it wrote no connection files, so no engines were started.\n" +
                     ctl_launcher_->output_tail(20));
        } else {
          log_->warn("{}. Shutting down.", e.message);
          stop_all("controller stopped");
        }
        return;
      }
    }
  }
}

void ClusterRunner::start_launched_engines() {
  std::vector<int> counts;
  std::vector<std::string> ids;
  auto launchers = make_engine_launchers(
      s_, context_for(s_, profile_, log_), s_.n,
      [this, &ids] {
        ids.push_back(new_set_id(ids));
        return ids.back();
      },
      counts);
  int total = 0;
  for (std::size_t i = 0; i < launchers.size(); ++i) {
    auto& l = launchers[i];
    if (i == 0) log_->info("Starting {} engines with <class '{}'>", s_.n, l->class_name());
    try {
      l->start(counts[i]);
    } catch (const std::exception& e) {
      log_->error("{}", e.what());
      engine_start_errors_.push_back(e.what());
      continue;
    }
    total += counts[i];
    EngineSetRecord rec;
    rec.id = ids[i];
    rec.set = l->state();
    rec.engines = l->engine_states();
    record_.sets.push_back(std::move(rec));
    launched_.push_back(LaunchedSet{ids[i], std::move(l)});
  }
  write_record();
  if (total == 0) {
    std::string why;
    for (const auto& e : engine_start_errors_) why += "\n" + e;
    fail_start("Engine start failed: no engine could be started" +
               (why.empty() ? std::string(" (see the errors above)") : ":" + why));
    return;
  }
  monitor_ = std::make_unique<StartupMonitor>(
      total, std::chrono::milliseconds(static_cast<long>(s_.early_shutdown * 1000)),
      std::chrono::steady_clock::now());
  if (probe_) {
    probe_->send_request();
    monitor_->probed(std::chrono::steady_clock::now());
  }
}

void ClusterRunner::poll_engine_launchers(TimePoint now) {
  bool changed = false;
  bool queued = false;
  for (auto& set : launched_) {
    for (const auto& e : set.launcher->poll(now)) {
      switch (e.kind) {
        case LauncherEvent::Kind::Info:
          if (!e.message.empty()) log_->info("{}", e.message);
          changed = true;
          break;
        case LauncherEvent::Kind::Warning: log_->warn("{}", e.message); break;
        case LauncherEvent::Kind::Stopped:
          changed = true;
          on_launcher_stopped(e);
          if (stopping_) return;
          break;
      }
    }
    queued = queued || set.launcher->queued();
  }
  if (changed) update_engine_states();
  // Batch engines may wait in a queue for a long time: say where they are once a minute.
  if (monitor_ && !monitor_->succeeded() && queued &&
      now - last_progress_ >= std::chrono::seconds(60)) {
    if (last_progress_ != TimePoint{}) {
      log_->info("{}/{} engines registered, {}", monitor_->registered(), monitor_->expected(),
                 launcher_status());
    }
    last_progress_ = now;
  }
}

void ClusterRunner::on_launcher_stopped(const LauncherEvent& e) {
  const bool starting = monitor_ && !monitor_->succeeded();
  update_engine_states();
  int still = 0;
  for (const auto& set : launched_) still += set.launcher->running();
  // Batch engines that ended before any engine registered: say why and stop, whenever it
  // happens (a job may sit in the queue far longer than the early-shutdown window).
  if (still == 0 && starting && !any_registered_ && is_batch_class(s_.engine_launcher)) {
    std::string out = engines_output();
    const std::string msg = e.message + " before its engines registered." +
                            (out.empty() ? "" : "\n" + out);
    log_->error("{}", msg);
    if (notifier_.active()) notifier_.report(exit_code::error, msg);
    exit_code_ = exit_code::error;
    stop_all("engine jobs ended");
    return;
  }
  if (e.failed && starting) {
    log_->error("{}", e.message);
  } else if (e.failed) {
    log_->warn("{}", e.message);
  } else {
    log_->info("{}", e.message);
  }
  if (!monitor_) return;
  for (int k = 0; k < std::max(1, e.count) && !stopping_; ++k) {
    handle(monitor_->on_engine_exit(std::chrono::steady_clock::now()));
  }
}

std::string ClusterRunner::launcher_status() const {
  std::string out;
  for (const auto& set : launched_) {
    auto st = set.launcher->status();
    if (!st.empty()) out += (out.empty() ? "" : ", ") + st;
  }
  if (!controller_ready_ && ctl_launcher_) {
    auto st = ctl_launcher_->status();
    if (!st.empty()) out += (out.empty() ? "controller " : ", controller ") + st;
  }
  return out;
}

}  // namespace ipp::cluster
