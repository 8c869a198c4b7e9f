// ClusterRunner's adaptive engines: every interval it asks the controller for its status
// (status_request), lets AdaptivePolicy decide, starts engines through the first engine set's
// launcher or drains idle ones (drain_request), shuts a drained engine down once it holds
// nothing (shutdown_request on the control port, as a client would), and reports its decisions
// for the controller's status page (adapt_report).
#include "runner.hpp"

#include <ipp/util/ids.hpp>

namespace ipp::cluster {

using wire::Json;

namespace {

constexpr std::size_t kDecisionsKept = 20;

std::uint64_t num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<std::uint64_t>() : 0;
}

}  // namespace

void ClusterRunner::adapt_tick(TimePoint now) {
  if (!adapt_link_ || !engines_started_ || adapt_disabled_ || stopping_ || sets_.empty()) return;
  if (now < adapt_next_) return;
  adapt_link_->ask_status();
  adapt_next_ = now + std::chrono::duration_cast<Duration>(
                          std::chrono::duration<double>(adapt_->settings().interval));
}

bool ClusterRunner::retired_exit(const LauncherEvent& e) {
  // Local engines that were shut down exit with status 0; a remote (SSH) engine's exit status
  // is not known and is reported as a failure, so any exit counts while retirements are due.
  if (expected_exits_ <= 0) return false;
  expected_exits_ = std::max(0, expected_exits_ - std::max(1, e.count));
  gone_retirees_ = std::max(0, gone_retirees_ - std::max(1, e.count));
  log_->info("Engine retired: {}", e.message);
  return true;
}

void ClusterRunner::on_adapt_status() {
  auto status = adapt_link_->read_status();
  if (!status || stopping_ || adapt_disabled_) return;
  const auto now = std::chrono::steady_clock::now();
  AdaptiveObservation o;
  std::map<int, const Json*> by_id;
  if (auto it = status->find("engines"); it != status->end() && it->is_array()) {
    for (const auto& e : *it) {
      AdaptiveObservation::Engine row;
      row.id = e.value("id", -1);
      row.uuid = e.value("uuid", "");
      const std::string state = e.value("state", "");
      row.draining = state == "draining";
      row.idle = state == "idle";
      o.engines.push_back(row);
      by_id[row.id] = &e;
    }
  }
  const Json tasks = status->value("tasks", Json::object());
  o.waiting = num(tasks, "waiting");
  o.running = num(tasks, "running");
  const Json durations = tasks.value("duration_seconds", Json::object());
  o.completed_timed = num(durations, "count");
  o.duration_sum = durations.value("sum", 0.0);

  // Drained engines that hold nothing any more are shut down; gone ones are forgotten.
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    auto e = by_id.find(it->first);
    if (e == by_id.end()) {
      // (its exit may have been seen first: then none is pending for it)
      if (shut_down_.erase(it->first) != 0 && gone_retirees_ < expected_exits_) ++gone_retirees_;
      it = retiring_.erase(it);
      continue;
    }
    const Json& row = *e->second;
    if (it->second.empty()) it->second = row.value("uuid", "");
    if (shut_down_.count(it->first) == 0 && num(row, "lb_load") == 0 &&
        num(row, "direct_outstanding") == 0) {
      log_->info("Adaptive: shutting down engine {} (drained, idle)", it->first);
      adapt_link_->shut_down(it->second);
      shut_down_.insert(it->first);
      ++expected_exits_;
    }
    ++it;
  }

  // Engines started and not registered yet: the launchers' processes (or jobs) less the
  // engines registered and the retired ones that unregistered but whose exit (or job's end)
  // is still to be seen.
  int processes = 0;
  for (const auto& set : sets_) processes += set.launcher->running();
  const int starting =
      std::max(0, processes - static_cast<int>(o.engines.size()) - gone_retirees_);
  const AdaptiveDecision d = adapt_->observe(o, starting, now);
  adapt_apply(d);
  cancel_queued_sets(o);
}

void ClusterRunner::adapt_grow_batch(int n) {
  std::vector<std::string> errors;
  try {
    launch_engine_sets(n, errors, false);
  } catch (const std::exception& e) {
    errors.push_back(e.what());
  }
  if (!errors.empty()) {
    // a batch system that refuses jobs now will refuse the next ones too: say so once
    log_->error("Adaptive engines off: engine jobs could not be submitted");
    adapt_disabled_ = true;
  }
  update_engine_states();
}

// Sets whose job ended (a retired engine's, or one cancelled here) leave the cluster file; the
// last set stays, as when engines stop without --adapt (local and SSH engines are one set).
void ClusterRunner::prune_ended_sets() {
  for (auto it = sets_.begin(); it != sets_.end() && sets_.size() > 1;) {
    if (it->launcher->running() > 0 || !it->restarts_due.empty()) {
      ++it;
      continue;
    }
    const std::string id = it->id;
    it = sets_.erase(it);
    std::erase_if(record_.sets, [&id](const EngineSetRecord& r) { return r.id == id; });
  }
}

// No work waits: jobs still in the queue would only bring idle engines, so they are cancelled,
// as long as the engines registered keep the minimum (only batch sets are ever queued).
void ClusterRunner::cancel_queued_sets(const AdaptiveObservation& o) {
  if (o.waiting > 0 || stopping_) return;
  int active = 0;
  for (const auto& e : o.engines) active += e.draining ? 0 : 1;
  if (active < adapt_->settings().min) return;
  int cancelled = 0;
  for (auto& set : sets_) {
    if (!set.launcher->queued()) continue;
    log_->info("Adaptive: cancelling engine set {} ({}): still queued and no work waits", set.id,
               set.launcher->status());
    set.launcher->stop();
    ++cancelled;
  }
  if (cancelled > 0) {
    prune_ended_sets();
    update_engine_states();
  }
}

void ClusterRunner::adapt_apply(const AdaptiveDecision& d) {
  const AdaptiveSettings& a = adapt_->settings();
  if (d.action == AdaptiveDecision::Action::Grow && sets_.front().launcher->grows_in_new_sets()) {
    log_->info("Adaptive: grow {} -> {} engines: {}", d.from, d.to, d.reason);
    adapt_grow_batch(d.start);
  } else if (d.action == AdaptiveDecision::Action::Grow) {
    auto& set = sets_.front();
    if (!set.launcher->start_more(d.start)) {
      log_->error("Adaptive engines off: engine set {} ({}) cannot start engines on demand",
                  set.id, set.launcher->class_name());
      adapt_disabled_ = true;
      return;
    }
    log_->info("Adaptive: grow {} -> {} engines: {}", d.from, d.to, d.reason);
    update_engine_states();
  } else if (d.action == AdaptiveDecision::Action::Shrink) {
    log_->info("Adaptive: shrink {} -> {} engines (retiring {}): {}", d.from, d.to,
               fmt::join(d.retire, ", "), d.reason);
    adapt_link_->drain(d.retire);
    for (int id : d.retire) retiring_[id] = "";
  }
  if (d.action != AdaptiveDecision::Action::Hold) {
    adapt_target_ = d.to;
    decisions_.push_front(Json{{"time", iso8601_now()},
                               {"action", action_name(d.action)},
                               {"from", d.from},
                               {"to", d.to},
                               {"reason", d.reason}});
    if (decisions_.size() > kDecisionsKept) decisions_.pop_back();
  } else if (adapt_target_ == 0) {
    adapt_target_ = d.to;
  }
  Json report{{"enabled", true},
              {"min", a.min},
              {"max", a.max},
              {"engines_target", adapt_target_},
              {"target_duration", a.target_duration},
              {"idle_timeout", a.idle_timeout},
              {"mean_task_seconds", adapt_->mean_duration() ? Json(*adapt_->mean_duration()) : Json()},
              {"decisions", Json(decisions_)}};
  adapt_link_->report(report);
}

}  // namespace ipp::cluster
