#include "ipp/controller/sched/task_scheduler.hpp"

#include <algorithm>
#include <cmath>

#include <ipp/wire/errors.hpp>

namespace ipp::controller::sched {

namespace {

constexpr const char* kInvalidDependency = "InvalidDependency";
constexpr const char* kImpossibleDependency = "ImpossibleDependency";
constexpr const char* kTaskTimeout = "TaskTimeout";

}  // namespace

// ----------------------------------------------------------------------------------- TaskSpec

TaskSpec TaskSpec::from_metadata(std::string msg_id, const wire::Json& md) {
  TaskSpec spec;
  spec.msg_id = std::move(msg_id);
  if (!md.is_object()) return spec;
  if (auto it = md.find("targets"); it != md.end()) {
    if (it->is_string()) {
      spec.targets.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& t : *it)
        if (t.is_string()) spec.targets.push_back(t.get<std::string>());
    }
  }
  if (auto it = md.find("retries"); it != md.end() && it->is_number()) {
    spec.retries = std::max(0, static_cast<int>(it->get<double>()));
  }
  if (auto it = md.find("timeout"); it != md.end() && it->is_number()) {
    const double t = it->get<double>();
    spec.timeout = (std::isfinite(t) && t > 0) ? t : 0.0;
  }
  auto parse_dep = [&](const char* key, Dependency& dep) {
    auto it = md.find(key);
    if (it == md.end()) return;
    auto r = Dependency::from_json(*it);
    if (r) {
      dep = std::move(*r);
    } else {
      spec.invalid_dependency = true;
    }
  };
  parse_dep("after", spec.after);
  parse_dep("follow", spec.follow);
  return spec;
}

std::optional<RequestError> check_task_request(std::string_view msg_type, const wire::Json& md) {
  if (msg_type != "apply_request" && msg_type != "execute_request") {
    return RequestError{"ValueError", "the task scheduler runs apply_request and execute_request "
                                      "messages, not " + wire::python_repr(msg_type)};
  }
  if (!md.is_object()) return std::nullopt;
  auto type_error = [](const char* key, const char* want, const wire::Json& v) {
    return RequestError{"TypeError", std::string("metadata '") + key + "' must be " + want +
                                         ", not " + v.type_name()};
  };
  if (auto it = md.find("targets"); it != md.end() && !it->is_null() && !it->is_string()) {
    const bool uuids = it->is_array() && std::all_of(it->begin(), it->end(),
                                                     [](const auto& t) { return t.is_string(); });
    if (!uuids) return type_error("targets", "a list of engine uuids", *it);
  }
  if (auto it = md.find("retries"); it != md.end() && !it->is_null()) {
    const bool integral = it->is_number_integer() ||
                          (it->is_number_float() && std::isfinite(it->get<double>()) &&
                           std::floor(it->get<double>()) == it->get<double>());
    if (!integral) return type_error("retries", "an integer", *it);
    if (it->get<double>() < 0) {
      return RequestError{"ValueError", "metadata 'retries' must be >= 0, not " + it->dump()};
    }
  }
  if (auto it = md.find("timeout"); it != md.end() && !it->is_null()) {
    if (!it->is_number() || !std::isfinite(it->get<double>())) {
      return type_error("timeout", "a number of seconds", *it);
    }
    if (it->get<double>() < 0) {
      return RequestError{"ValueError", "metadata 'timeout' must be >= 0, not " + it->dump()};
    }
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------ TaskScheduler

TaskScheduler::TaskScheduler(Options options) : options_(options), rng_(options.seed) {
  if (options_.hwm < 0) options_.hwm = 0;
}

bool TaskScheduler::completed(const std::string& id) const {
  auto it = tasks_.find(id);
  return it != tasks_.end() && it->second.state == State::Completed;
}

bool TaskScheduler::failed(const std::string& id) const {
  auto it = tasks_.find(id);
  return it != tasks_.end() && it->second.state == State::Failed;
}

// `follow` checked against the tasks that finished on this engine (Python's completed[engine]).
bool TaskScheduler::met_on(const Dependency& dep, std::uint32_t slot) const {
  auto on = [&](const std::string& id, State s) {
    auto it = tasks_.find(id);
    return it != tasks_.end() && it->second.state == s && it->second.engine == slot;
  };
  return dep.met_if([&](const std::string& id) { return on(id, State::Completed); },
                 [&](const std::string& id) { return on(id, State::Failed); });
}

bool TaskScheduler::blacklisted(const Job& job, const std::string& uuid) const {
  return std::find(job.blacklist.begin(), job.blacklist.end(), uuid) != job.blacklist.end();
}

TaskScheduler::Job* TaskScheduler::new_job(TaskSpec& spec) {
  auto [it, inserted] = tasks_.try_emplace(spec.msg_id);
  if (!inserted) return nullptr;  // duplicate msg_id: never seen from real clients
  TaskInfo& info = it->second;
  info.state = State::Queued;
  info.job = std::make_unique<Job>();
  Job& job = *info.job;
  ++active_jobs_;
  job.msg_id = std::move(spec.msg_id);
  job.seq = next_seq_++;
  job.targets = std::move(spec.targets);
  std::sort(job.targets.begin(), job.targets.end());
  job.targets.erase(std::unique(job.targets.begin(), job.targets.end()), job.targets.end());
  job.retries = spec.retries;
  job.after = std::move(spec.after);
  job.follow = std::move(spec.follow);
  job.timeout = spec.timeout;
  return &job;
}

Actions TaskScheduler::submit(TaskSpec spec, TimePoint now) {
  Actions out;
  Job* created = new_job(spec);
  if (created == nullptr) return out;
  Job& job = *created;

  if (spec.invalid_dependency) {
    fail_job(job, kInvalidDependency, out);
    drain(out);
    return out;
  }

  auto is_completed = [this](const std::string& id) { return completed(id); };
  auto is_failed = [this](const std::string& id) { return failed(id); };

  // An `all` time dependency forgets what is already satisfied; if it is met it becomes empty.
  if (!job.after.empty()) {
    if (job.after.all) {
      std::erase_if(job.after.ids, [&](const std::string& id) {
        return (job.after.success && completed(id)) || (job.after.failure && failed(id));
      });
    }
    if (job.after.met_if(is_completed, is_failed)) job.after.ids.clear();
  }

  for (const Dependency* dep : {&job.after, &job.follow}) {
    if (dep->empty()) continue;
    bool invalid = dep->contains(job.msg_id);
    for (const auto& id : dep->ids) {
      if (invalid) break;
      invalid = tasks_.find(id) == tasks_.end();
    }
    if (invalid) {
      fail_job(job, kInvalidDependency, out);
      drain(out);
      return out;
    }
    if (dep->unreachable_if(is_completed, is_failed)) {
      fail_job(job, kImpossibleDependency, out);
      drain(out);
      return out;
    }
  }

  if (job.after.met_if(is_completed, is_failed)) {
    if (maybe_run(job, out) == RunResult::Wait) save_unmet(job, now);
  } else {
    save_unmet(job, now);
  }
  drain(out);
  return out;
}

TaskScheduler::RunResult TaskScheduler::maybe_run(Job& job, Actions& out) {
  if (available_ == 0) return RunResult::Wait;
  scratch_loads_.clear();
  scratch_slots_.clear();
  const bool unconstrained = job.targets.empty() && job.blacklist.empty() && job.follow.empty();
  for (std::uint32_t slot : lru_) {
    const Engine& e = engines_[slot];
    if (!has_room(e)) continue;
    if (!unconstrained) {
      if (!job.blacklist.empty() && blacklisted(job, e.uuid)) continue;
      if (!job.targets.empty() &&
          !std::binary_search(job.targets.begin(), job.targets.end(), e.uuid))
        continue;
      if (!job.follow.empty() && !met_on(job.follow, slot)) continue;
    }
    scratch_loads_.push_back(e.load);
    scratch_slots_.push_back(slot);
  }
  if (scratch_slots_.empty()) {
    // An `all` location dependency whose finished tasks ran on different engines can never be met.
    if (job.follow.all && !job.follow.empty()) {
      std::uint32_t dest = kNoEngine;
      for (const auto& id : job.follow.ids) {
        auto it = tasks_.find(id);
        if (it == tasks_.end()) continue;
        const bool relevant = (job.follow.success && it->second.state == State::Completed) ||
                              (job.follow.failure && it->second.state == State::Failed);
        if (!relevant || it->second.engine == kNoEngine) continue;
        if (dest != kNoEngine && dest != it->second.engine) {
          fail_job(job, kImpossibleDependency, out);
          return RunResult::Failed;
        }
        dest = it->second.engine;
      }
    }
    // Targets all blacklisted or none of them registered.
    if (!job.targets.empty()) {
      bool possible = false;
      for (const auto& t : job.targets) {
        if (!blacklisted(job, t) && live_.count(t) != 0) {
          possible = true;
          break;
        }
      }
      if (!possible) {
        fail_job(job, kImpossibleDependency, out);
        return RunResult::Failed;
      }
    }
    return RunResult::Wait;
  }
  const std::size_t idx = choose(options_.scheme, scratch_loads_, rng_);
  dispatch(job, scratch_slots_[idx], out);
  return RunResult::Ran;
}

void TaskScheduler::dispatch(Job& job, std::uint32_t slot, Actions& out) {
  remove_runnable(job);
  Engine& e = engines_[slot];
  ++e.load;
  if (options_.hwm != 0 && e.load == options_.hwm) --available_;
  // The engine that just got a task goes to the back of the LRU line (Python add_job).
  auto pos = std::find(lru_.begin(), lru_.end(), slot);
  if (pos != lru_.end()) std::rotate(pos, pos + 1, lru_.end());
  e.pending.insert(job.msg_id);
  job.engine = slot;
  ++job.timeout_gen;  // a running task never times out
  tasks_[job.msg_id].state = State::Running;
  ++running_jobs_;
  out.emplace_back(Dispatch{job.msg_id, e.uuid});
}

void TaskScheduler::place(Job& job, std::uint32_t slot) {
  remove_runnable(job);
  Engine& e = engines_[slot];
  if (e.alive) {
    ++e.load;
    if (options_.hwm != 0 && e.load == options_.hwm) --available_;
  }
  e.pending.insert(job.msg_id);
  job.engine = slot;
  ++job.timeout_gen;
  tasks_[job.msg_id].state = State::Running;
  ++running_jobs_;
}

Actions TaskScheduler::restore(TaskSpec spec, const std::string& engine_uuid, TimePoint now) {
  for (Dependency* dep : {&spec.after, &spec.follow}) {
    std::erase_if(dep->ids, [this](const std::string& id) { return tasks_.count(id) == 0; });
  }
  if (engine_uuid.empty()) {
    const std::string msg_id = spec.msg_id;
    Actions out = submit(std::move(spec), now);
    auto it = tasks_.find(msg_id);
    if (it != tasks_.end() && it->second.job) it->second.job->restored = true;
    return out;
  }
  Actions out;
  Job* created = new_job(spec);
  if (created == nullptr) return out;
  created->restored = true;
  std::uint32_t slot = 0;
  if (auto live = live_.find(engine_uuid); live != live_.end()) {
    slot = live->second;
  } else {
    // An engine this controller never registered: it died while the controller was down.
    slot = static_cast<std::uint32_t>(engines_.size());
    engines_.push_back(Engine{engine_uuid, 0, false, false, {}});
  }
  place(*created, slot);
  if (!engines_[slot].alive) handle_reply(*created, slot, false, true, true, out, now);
  drain(out);
  return out;
}

void TaskScheduler::add_runnable(Job& job) {
  if (job.in_runnable) return;
  job.in_runnable = true;
  if (job.targets.empty()) {
    runnable_any_.emplace(job.seq, &job);
  } else {
    for (const auto& t : job.targets) runnable_targeted_[t].emplace(job.seq, &job);
  }
}

void TaskScheduler::remove_runnable(Job& job) {
  if (!job.in_runnable) return;
  job.in_runnable = false;
  if (job.targets.empty()) {
    runnable_any_.erase(job.seq);
  } else {
    for (const auto& t : job.targets) {
      auto it = runnable_targeted_.find(t);
      if (it != runnable_targeted_.end()) it->second.erase(job.seq);
    }
  }
}

void TaskScheduler::save_unmet(Job& job, TimePoint now) {
  auto is_completed = [this](const std::string& id) { return completed(id); };
  auto is_failed = [this](const std::string& id) { return failed(id); };
  if (job.after.met_if(is_completed, is_failed)) add_runnable(job);
  auto index = [&](const Dependency& dep) {
    for (const auto& id : dep.ids)
      if (!completed(id) && !failed(id)) graph_[id].push_back(job.msg_id);
  };
  index(job.after);
  index(job.follow);
  if (job.timeout > 0) {
    const auto delay = std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(job.timeout));
    timers_.push(Timer{now + delay, job.msg_id, ++job.timeout_gen});
  }
}

void TaskScheduler::fail_job(Job& job, const char* ename, Actions& out) {
  remove_runnable(job);
  const std::string msg_id = job.msg_id;
  TaskInfo& info = tasks_[msg_id];
  info.state = State::Failed;
  info.engine = kNoEngine;
  info.job.reset();  // `job` is gone from here on
  --active_jobs_;
  out.emplace_back(Fail{msg_id, ename, ""});
  out.emplace_back(Forget{msg_id});
  finished_.push_back(msg_id);
  remember_finished(msg_id);
}

void TaskScheduler::remember_finished(const std::string& msg_id) {
  finished_history_.push_back(msg_id);
  while (finished_history_.size() > options_.finished_limit) {
    auto it = tasks_.find(finished_history_.front());
    if (it != tasks_.end() &&
        (it->second.state == State::Completed || it->second.state == State::Failed)) {
      tasks_.erase(it);
    }
    finished_history_.pop_front();
  }
}

Actions TaskScheduler::reply(const std::string& msg_id, const std::string& engine_uuid,
                             bool status_ok, bool dependencies_met, TimePoint now) {
  Actions out;
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || !it->second.job) return out;
  Job& job = *it->second.job;
  if (it->second.state == State::Queued && job.restored) {
    // Restored as waiting, but the engine had it: its destination never reached the store.
    auto live = live_.find(engine_uuid);
    if (live == live_.end()) return out;
    place(job, live->second);
  }
  if (it->second.state != State::Running) return out;
  const std::uint32_t slot = job.engine;
  if (slot == kNoEngine || engines_[slot].uuid != engine_uuid) return out;
  handle_reply(job, slot, status_ok, dependencies_met, false, out, now);
  drain(out);
  return out;
}

void TaskScheduler::handle_reply(Job& job, std::uint32_t slot, bool ok, bool deps_met,
                                 bool engine_died, Actions& out, TimePoint now) {
  Engine& e = engines_[slot];
  e.pending.erase(job.msg_id);
  --running_jobs_;
  job.engine = kNoEngine;
  if (e.alive) {
    const bool was_full = !has_room(e);
    --e.load;
    if (was_full && has_room(e)) {
      ++available_;
      to_scan_.push_back(slot);
    }
  }
  if (!deps_met) {
    // The engine refused (@depend / @require): try elsewhere, nothing relayed.
    requeue(job, e.uuid, out, now);
  } else if (!ok && job.retries > 0) {
    --job.retries;
    ++retried_;
    requeue(job, e.uuid, out, now);
  } else {
    finish(job, slot, ok, engine_died, out);
  }
}

void TaskScheduler::requeue(Job& job, const std::string& engine_uuid, Actions& out,
                            TimePoint now) {
  if (!blacklisted(job, engine_uuid)) job.blacklist.push_back(engine_uuid);
  tasks_[job.msg_id].state = State::Queued;
  // Python: `job.blacklist == job.targets` -> ImpossibleDependency.
  if (!job.targets.empty()) {
    const bool all_blacklisted = std::all_of(job.targets.begin(), job.targets.end(),
                                             [&](const auto& t) { return blacklisted(job, t); });
    if (all_blacklisted) {
      fail_job(job, kImpossibleDependency, out);
      return;
    }
  }
  if (maybe_run(job, out) == RunResult::Wait) save_unmet(job, now);
}

void TaskScheduler::finish(Job& job, std::uint32_t slot, bool ok, bool engine_died,
                           Actions& out) {
  const std::string msg_id = job.msg_id;
  const std::string& uuid = engines_[slot].uuid;
  TaskInfo& info = tasks_[msg_id];
  info.state = ok ? State::Completed : State::Failed;
  info.engine = slot;
  info.job.reset();
  --active_jobs_;
  if (engine_died) {
    out.emplace_back(EngineFailure{
        msg_id, uuid, "Engine '" + uuid + "' died while running task '" + msg_id + "'"});
  } else {
    out.emplace_back(Relay{msg_id, uuid, ok});
  }
  out.emplace_back(Forget{msg_id});
  finished_.push_back(msg_id);
  remember_finished(msg_id);
}

// A task finished: re-examine, in submission order, the queued tasks that depend on it.
void TaskScheduler::propagate(const std::string& id, Actions& out) {
  auto node = graph_.extract(id);
  if (node.empty()) return;
  std::vector<std::pair<std::uint64_t, Job*>> jobs;
  for (const auto& mid : node.mapped()) {
    auto it = tasks_.find(mid);
    if (it != tasks_.end() && it->second.state == State::Queued && it->second.job)
      jobs.emplace_back(it->second.job->seq, it->second.job.get());
  }
  std::sort(jobs.begin(), jobs.end());
  jobs.erase(std::unique(jobs.begin(), jobs.end()), jobs.end());
  auto is_completed = [this](const std::string& d) { return completed(d); };
  auto is_failed = [this](const std::string& d) { return failed(d); };
  for (auto& [seq, job] : jobs) {
    (void)seq;
    if (job->after.unreachable_if(is_completed, is_failed) ||
        job->follow.unreachable_if(is_completed, is_failed)) {
      fail_job(*job, kImpossibleDependency, out);
      continue;
    }
    if (job->after.met_if(is_completed, is_failed)) {
      add_runnable(*job);
      maybe_run(*job, out);
    }
  }
}

// An engine gained room: offer it the runnable tasks it could take, oldest first. Tasks that
// could use another engine with room would already be running there, so only this engine's
// candidates need a look (Python rescans the whole queue instead).
void TaskScheduler::scan_engine(std::uint32_t slot, Actions& out) {
  if (!engines_[slot].alive) return;
  const std::string uuid = engines_[slot].uuid;
  std::uint64_t cursor = 0;
  bool first = true;
  while (has_room(engines_[slot])) {
    Job* next = nullptr;
    auto any_it = first ? runnable_any_.begin() : runnable_any_.upper_bound(cursor);
    if (any_it != runnable_any_.end()) next = any_it->second;
    if (auto t = runnable_targeted_.find(uuid); t != runnable_targeted_.end()) {
      auto t_it = first ? t->second.begin() : t->second.upper_bound(cursor);
      if (t_it != t->second.end() && (next == nullptr || t_it->first < next->seq))
        next = t_it->second;
    }
    if (next == nullptr) break;
    first = false;
    cursor = next->seq;
    if (!next->blacklist.empty() && blacklisted(*next, uuid)) continue;
    if (!next->follow.empty() && !met_on(next->follow, slot)) continue;
    maybe_run(*next, out);
  }
}

void TaskScheduler::drain(Actions& out) {
  for (;;) {
    if (!finished_.empty()) {
      std::string id = std::move(finished_.front());
      finished_.pop_front();
      propagate(id, out);
    } else if (!to_scan_.empty()) {
      const std::uint32_t slot = to_scan_.front();
      to_scan_.pop_front();
      scan_engine(slot, out);
    } else {
      break;
    }
  }
}

Actions TaskScheduler::engine_registered(const std::string& uuid, TimePoint /*now*/) {
  Actions out;
  if (live_.count(uuid) != 0) return out;
  const auto slot = static_cast<std::uint32_t>(engines_.size());
  engines_.push_back(Engine{uuid, 0, true, false, {}});
  live_.emplace(uuid, slot);
  lru_.insert(lru_.begin(), slot);  // head of the line, as Python
  ++available_;
  to_scan_.push_back(slot);
  drain(out);
  return out;
}

Actions TaskScheduler::drain_engine(const std::string& uuid, TimePoint /*now*/) {
  Actions out;
  auto it = live_.find(uuid);
  if (it == live_.end()) return out;
  Engine& e = engines_[it->second];
  if (e.draining) return out;
  if (has_room(e)) --available_;
  e.draining = true;
  return out;
}

Actions TaskScheduler::undrain_engine(const std::string& uuid, TimePoint /*now*/) {
  Actions out;
  auto it = live_.find(uuid);
  if (it == live_.end()) return out;
  Engine& e = engines_[it->second];
  if (!e.draining) return out;
  e.draining = false;
  if (has_room(e)) {
    ++available_;
    to_scan_.push_back(it->second);
  }
  drain(out);
  return out;
}

bool TaskScheduler::is_draining(const std::string& uuid) const {
  auto it = live_.find(uuid);
  return it != live_.end() && engines_[it->second].draining;
}

Actions TaskScheduler::engine_unregistered(const std::string& uuid, TimePoint now, bool lost) {
  Actions out;
  auto it = live_.find(uuid);
  if (it == live_.end()) return out;
  const std::uint32_t slot = it->second;
  live_.erase(it);
  Engine& e = engines_[slot];
  if (has_room(e)) --available_;
  e.alive = false;
  std::erase(lru_, slot);
  if (!e.pending.empty()) {
    if (lost) {
      fail_stranded(slot, out, now);
    } else {
      stranded_.push_back(Stranded{now + options_.stranded_grace, slot});
    }
  }
  // Queued tasks that could only run on engines that are now gone.
  if (auto t = runnable_targeted_.find(uuid); t != runnable_targeted_.end()) {
    std::vector<Job*> doomed;
    for (auto& entry : t->second) {
      Job* job = entry.second;  // not a structured binding: clang 14 cannot capture those
      const bool possible = std::any_of(job->targets.begin(), job->targets.end(), [&](auto& x) {
        return !blacklisted(*job, x) && live_.count(x) != 0;
      });
      if (!possible) doomed.push_back(job);
    }
    for (Job* job : doomed) fail_job(*job, kImpossibleDependency, out);
  }
  drain(out);
  return out;
}

void TaskScheduler::fail_stranded(std::uint32_t slot, Actions& out, TimePoint now) {
  // Sorted so the fabricated failures come out in a reproducible order.
  std::vector<std::pair<std::uint64_t, Job*>> lost;
  for (const auto& mid : engines_[slot].pending) {
    auto t = tasks_.find(mid);
    if (t != tasks_.end() && t->second.job) lost.emplace_back(t->second.job->seq, t->second.job.get());
  }
  std::sort(lost.begin(), lost.end());
  for (auto& [seq, job] : lost) {
    (void)seq;
    handle_reply(*job, slot, false, true, true, out, now);
  }
  drain(out);
}

Actions TaskScheduler::tick(TimePoint now) {
  Actions out;
  while (!stranded_.empty() && stranded_.front().deadline <= now) {
    const std::uint32_t slot = stranded_.front().slot;
    stranded_.pop_front();
    fail_stranded(slot, out, now);
  }
  while (!timers_.empty() && timers_.top().deadline <= now) {
    Timer timer = timers_.top();
    timers_.pop();
    auto t = tasks_.find(timer.msg_id);
    if (t == tasks_.end() || t->second.state != State::Queued || !t->second.job) continue;
    if (t->second.job->timeout_gen != timer.gen) continue;
    fail_job(*t->second.job, kTaskTimeout, out);
    drain(out);
  }
  return out;
}

std::optional<TimePoint> TaskScheduler::next_deadline() const {
  std::optional<TimePoint> d;
  if (!stranded_.empty()) d = stranded_.front().deadline;
  if (!timers_.empty() && (!d || timers_.top().deadline < *d)) d = timers_.top().deadline;
  return d;
}

std::vector<std::string> TaskScheduler::engines_lru() const {
  std::vector<std::string> v;
  v.reserve(lru_.size());
  for (auto slot : lru_) v.push_back(engines_[slot].uuid);
  return v;
}

int TaskScheduler::load(const std::string& uuid) const {
  auto it = live_.find(uuid);
  return it == live_.end() ? -1 : engines_[it->second].load;
}

bool TaskScheduler::is_queued(const std::string& msg_id) const {
  auto it = tasks_.find(msg_id);
  return it != tasks_.end() && it->second.state == State::Queued;
}

std::optional<std::string> TaskScheduler::running_on(const std::string& msg_id) const {
  auto it = tasks_.find(msg_id);
  if (it == tasks_.end() || it->second.state != State::Running || !it->second.job) return {};
  return engines_[it->second.job->engine].uuid;
}

}  // namespace ipp::controller::sched
