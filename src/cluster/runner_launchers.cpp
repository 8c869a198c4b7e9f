// ClusterRunner's engine sets: starting them through their launchers, polling them on every
// tick, and turning their events into log lines, cluster-file updates and start-up decisions.
#include "runner.hpp"

#include <ipp/cluster/process.hpp>

namespace ipp::cluster {

void ClusterRunner::start_engines() {
  engines_started_ = true;
  std::vector<std::string> errors;
  int total = 0;
  try {
    total = launch_engine_sets(s_.n, errors, true);
  } catch (const std::exception& e) {
    fail_start(std::string("Engine start failed: ") + e.what());
    return;
  }
  write_record();
  if (adapt_ && !sets_.empty()) {
    const int capacity = sets_.front().launcher->capacity();
    if (capacity >= 0 && capacity < adapt_->settings().max) {
      log_->info("Adaptive: at most {} engines (--max={}): all that engine set {} can run",
                 capacity, adapt_->settings().max, sets_.front().id);
      adapt_->limit_to(capacity);
    }
  }
  if (total == 0) {
    std::string why;
    if (errors.size() == 1) {
      why = errors.front();
    } else {
      why = "no engine could be started";
      for (const auto& e : errors) why += "\n" + e;
    }
    fail_start("Engine start failed: " + why);
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

int ClusterRunner::launch_engine_sets(int n, std::vector<std::string>& errors, bool first) {
  std::vector<int> counts;
  std::vector<std::string> ids;
  auto launchers = make_engine_launchers(
      s_, launch_context(s_, profile_, log_), n,
      [this, &ids] {
        ids.push_back(new_set_id(ids));
        return ids.back();
      },
      counts, jobs_made_);
  jobs_made_ += static_cast<int>(launchers.size());
  int total = 0;
  for (std::size_t i = 0; i < launchers.size(); ++i) {
    auto& l = launchers[i];
    // The SSH launcher counts its engines from the hosts dict and says so itself.
    if (first && i == 0 && s_.engine_launcher != "ssh") {
      log_->info("Starting {} engines with <class '{}'>", n, l->class_name());
    }
    try {
      l->start(counts[i]);
    } catch (const std::exception& e) {
      if (launchers.size() > 1 || !first) log_->error("{}", e.what());
      errors.push_back(e.what());
      continue;
    }
    total += l->running();
    EngineSetRecord rec;
    rec.id = ids[i];
    rec.set = l->state();
    rec.engines = l->engine_states();
    record_.sets.push_back(std::move(rec));
    sets_.push_back(LaunchedSet{ids[i], std::move(l),
                                EngineRestartPolicy({s_.engine_restart_limit,
                                                     s_.engine_restart_delay, 60.0,
                                                     s_.engine_restart_reset}),
                                {}});
  }
  return total;
}

void ClusterRunner::poll_engines(TimePoint now) {
  bool changed = false;
  bool queued = false;
  for (auto& set : sets_) {
    start_due_restarts(set, now);
    for (const auto& e : set.launcher->poll(now)) {
      switch (e.kind) {
        case LauncherEvent::Kind::Info:
          if (!e.message.empty()) log_->info("{}", e.message);
          changed = true;
          break;
        case LauncherEvent::Kind::Warning:
          log_->warn("{}", e.message);
          break;
        case LauncherEvent::Kind::Stopped:
          changed = true;
          on_engines_stopped(set, e);
          if (stopping_) return;
          break;
      }
    }
    queued = queued || set.launcher->queued();
  }
  if (changed && adapt_) prune_ended_sets();
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

void ClusterRunner::on_engines_stopped(LaunchedSet& set, const LauncherEvent& e) {
  if (retired_exit(e)) {
    update_engine_states();
    return;
  }
  const bool starting = monitor_ && !monitor_->succeeded();
  update_engine_states();
  int still = 0;
  for (const auto& other : sets_) still += other.launcher->running();
  // Batch engines that ended before any engine registered: say why and stop, whenever it
  // happens (a job may sit in the queue far longer than the early-shutdown window).
  if (still == 0 && starting && !any_registered_ && is_batch_class(s_.engine_launcher)) {
    std::string out = engines_output();
    const std::string msg =
        e.message + " before its engines registered." + (out.empty() ? "" : "\n" + out);
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
  if (!stopping_) plan_restart(set, e);
}

// c.Cluster.engine_restart_limit: a replacement for each engine that died, after its back-off.
void ClusterRunner::plan_restart(LaunchedSet& set, const LauncherEvent& e) {
  if (!set.restarts.enabled() || e.count < 1) return;
  const auto d = set.restarts.on_exit(e.uptime_s);
  if (!d.restart) {
    log_->warn("Engine restart limit ({}) reached for engine set {}: {} engines died soon after "
               "their start in a row; not restarting",
               set.restarts.limit(), set.id, d.attempt);
    return;
  }
  log_->info("Restarting {} of set {} in {:.1f} s (restart {} of at most {} in a row)",
             e.count == 1 ? std::string("an engine") : std::to_string(e.count) + " engines",
             set.id, std::chrono::duration<double>(d.after).count(), d.attempt,
             set.restarts.limit());
  set.restarts_due.push_back({std::chrono::steady_clock::now() + d.after, e.count});
}

void ClusterRunner::start_due_restarts(LaunchedSet& set, TimePoint now) {
  auto& due = set.restarts_due;
  for (auto it = due.begin(); it != due.end();) {
    if (it->first > now) {
      ++it;
      continue;
    }
    const int count = it->second;
    it = due.erase(it);
    if (!set.launcher->start_more(count)) {
      log_->warn("Engine set {} ({}) cannot start replacement engines; not restarting",
                 set.id, set.launcher->class_name());
      due.clear();
      return;
    }
    for (int k = 0; k < count && monitor_; ++k) monitor_->on_engine_restarted();
    log_->info("Started {} in set {}",
               count == 1 ? std::string("a replacement engine")
                          : std::to_string(count) + " replacement engines",
               set.id);
    update_engine_states();  // the cluster file lists it
  }
}

void ClusterRunner::update_engine_states() {
  for (auto& rec : record_.sets) {
    for (const auto& l : sets_) {
      if (l.id != rec.id) continue;
      rec.set = l.launcher->state();
      rec.engines = l.launcher->engine_states();
    }
  }
  write_record();
}

std::string ClusterRunner::launcher_status() const {
  std::string out;
  for (const auto& set : sets_) {
    auto st = set.launcher->status();
    if (!st.empty()) out += (out.empty() ? "" : ", ") + st;
  }
  if (!controller_ready_ && controller_) {
    auto st = controller_->status();
    if (!st.empty()) out += (out.empty() ? "controller " : ", controller ") + st;
  }
  return out;
}

}  // namespace ipp::cluster
