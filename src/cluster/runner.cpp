#include "runner.hpp"

#include <ipp/cluster/process.hpp>
#include <ipp/config/connection_info.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include <signal.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>

namespace ipp::cluster {

namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

ClusterRunner::ClusterRunner(ClusterSettings settings, ipp::config::ProfileDir profile,
                             bool with_controller, DaemonNotifier notifier)
    : s_(std::move(settings)),
      profile_(std::move(profile)),
      with_controller_(with_controller),
      notifier_(notifier),
      log_(ipp::log::get(spdlog::default_logger()->name())),
      controller_restarts_({s_.controller_restart_limit, s_.controller_restart_delay, 60.0,
                            s_.controller_restart_reset}) {
  restore_settings_ = s_;
  restore_settings_.cluster_controller_args.push_back("--restore");
  record_.cluster_id = s_.cluster_id;
  record_.profile_dir = profile_.location().string();
  record_.controller_args = s_.cluster_controller_args;
  record_.controller_ip = s_.controller_ip;
  record_.controller_location = s_.controller_location;
  record_.delay = s_.delay;
  record_.n = s_.n;
  record_.engine_class = s_.engine_launcher;
  record_.controller_class = s_.controller_launcher;
  cluster_file_ = profile_.cluster_file(s_.cluster_id);
  if (s_.adapt) adapt_ = std::make_unique<AdaptivePolicy>(*s_.adapt);
}

int ClusterRunner::run() {
  auto stop_on = [this](int signo) {
    log_->error("Received signal {}, stopping", signo);
    log_->error("IPython cluster: stopping");
    stop_all("signal");
  };
  reactor_.on_signal(SIGINT, stop_on);
  reactor_.on_signal(SIGTERM, stop_on);
  auto relay = [this](int signo) {
    log_->info("Relaying signal {} to the engines", signo);
    for (auto& set : sets_) set.launcher->signal(signo);
  };
  reactor_.on_signal(SIGUSR1, relay);
  reactor_.on_signal(SIGUSR2, relay);

  started_ = std::chrono::steady_clock::now();
  if (with_controller_) {
    if (!start_controller()) return exit_code_;
    readiness_ =
        std::make_unique<ControllerReadiness>(s_.connection_info_timeout, s_.delay, started_);
  } else {
    if (!std::filesystem::exists(profile_.engine_file(s_.cluster_id))) {
      fail_start("No controller connection file " + profile_.engine_file(s_.cluster_id).string() +
                 "; start a controller first (ipcluster start, or ipcontroller)");
      return exit_code_;
    }
    controller_ready_ = true;
  }
  reactor_.call_every(std::chrono::milliseconds(250), [this] { tick(); });
  if (!with_controller_) start_engines();
  if (!stopping_) reactor_.run();
  return exit_code_;
}

LaunchContext launch_context(const ClusterSettings& s, const ipp::config::ProfileDir& profile,
                             const std::shared_ptr<spdlog::logger>& log) {
  LaunchContext ctx;
  ctx.profile_dir = profile.location().string();
  ctx.cluster_id = s.cluster_id;
  ctx.environment = s.environment;
  ctx.log = log;
  return ctx;
}

bool ClusterRunner::start_controller() {
  controller_ = make_controller_launcher(s_, launch_context(s_, profile_, log_));
  const bool local = s_.controller_launcher == "local";
  if (!local) log_->info("Starting controller with <class '{}'>", controller_->class_name());
  try {
    controller_->start();
  } catch (const std::exception& e) {
    fail_start(local ? std::string(e.what())
                     : std::string("The controller could not be started: ") + e.what());
    return false;
  }
  record_.controller = controller_->state();
  controller_started_ = std::chrono::steady_clock::now();
  write_record();
  return true;
}

void ClusterRunner::on_controller_stopped(const LauncherEvent& e, TimePoint now) {
  // A controller that exited cleanly was asked to (ipcluster stop, a client's shutdown): the
  // cluster ends with it.
  if (!controller_restarts_.enabled() || !e.failed) {
    log_->warn("{}. Shutting down.", e.message);
    stop_all("controller stopped");
    return;
  }
  const double uptime = std::chrono::duration<double>(now - controller_started_).count();
  const auto d = controller_restarts_.on_exit(uptime);
  if (!d.restart) {
    log_->error("{}. Controller restart limit ({}) reached (c.Cluster.controller_restart_limit): "
                "it stopped {} times in a row within {:.0f} s of its start. Shutting down.",
                e.message, controller_restarts_.limit(), controller_restarts_.limit() + 1,
                s_.controller_restart_reset);
    stop_all("controller stopped");
    return;
  }
  log_->warn("{}. Restarting the controller with --restore in {:.1f} s (restart {} of at most {} "
             "in a row); the engines keep running",
             e.message, d.after.count() / 1000.0, d.attempt, controller_restarts_.limit());
  controller_.reset();
  controller_restart_due_ = now + d.after;
}

void ClusterRunner::restart_controller() {
  controller_restart_due_.reset();
  controller_ = make_controller_launcher(restore_settings_,
                                         launch_context(restore_settings_, profile_, log_));
  try {
    controller_->start();
  } catch (const std::exception& e) {
    log_->error("The controller could not be restarted: {}. Shutting down.", e.what());
    controller_.reset();
    stop_all("controller restart failed");
    return;
  }
  // It was ready before; its connection files and ports are the same (--restore reuses them).
  controller_->ready();
  controller_started_ = std::chrono::steady_clock::now();
  record_.controller = controller_->state();
  write_record();
  log_->info("Restarted the controller");
}

void ClusterRunner::tick() {
  if (stopping_) return;
  auto now = std::chrono::steady_clock::now();
  if (controller_restart_due_ && now >= *controller_restart_due_) restart_controller();
  if (controller_) {
    poll_controller(now);
    if (stopping_) return;
  }
  if (engines_started_) {
    poll_engines(now);
    if (stopping_) return;
  }
  if (readiness_ && !readiness_->done()) {
    check_readiness(now);
    return;
  }
  if (!monitor_) return;
  handle(monitor_->on_tick(now));
  if (stopping_) return;
  if (adapt_) adapt_tick(now);
  if (probe_ && monitor_->wants_probe(now)) {
    probe_->send_request();
    monitor_->probed(now);
  }
  // The daemon's parent is told once the engines are up, or the window has passed.
  if (notifier_.active() &&
      (monitor_->succeeded() ||
       now - started_ > std::chrono::duration<double>(s_.early_shutdown + s_.delay))) {
    notifier_.report(0, "Leaving cluster running: " + cluster_file_.string());
  }
}

void ClusterRunner::check_readiness(TimePoint now) {
  watch_client_file();
  const bool files = std::filesystem::exists(profile_.client_file(s_.cluster_id)) &&
                     std::filesystem::exists(profile_.engine_file(s_.cluster_id));
  switch (readiness_->on_tick(now, files, controller_ && controller_->queued())) {
    case ControllerReadiness::Step::Wait:
      break;
    case ControllerReadiness::Step::SendRequest:
      if (probe_) probe_->send_request();
      break;
    case ControllerReadiness::Step::StartEngines:
      start_engines();
      break;
    case ControllerReadiness::Step::TimedOut:
      fail_start(controller_->timeout_message(readiness_->timeout_s()));
      break;
  }
}

// (Re)creates the registration probe whenever the controller writes a new client file.
void ClusterRunner::watch_client_file() {
  const auto client = profile_.client_file(s_.cluster_id);
  if (!std::filesystem::exists(client) ||
      !std::filesystem::exists(profile_.engine_file(s_.cluster_id))) {
    return;
  }
  auto text = read_text(client);
  if (text.empty() || text == probe_client_text_) return;
  try {
    auto info = ipp::config::read_connection_file(client, ipp::config::ConnectionKind::Client);
    if (probe_) reactor_.remove(probe_->socket());
    probe_ = std::make_unique<RegistrationProbe>(context_, info);
    probe_client_text_ = text;
    reactor_.add(probe_->socket(), [this] { on_probe_reply(); });
    if (adapt_) {
      if (adapt_link_) reactor_.remove(adapt_link_->query_socket());
      adapt_link_ = std::make_unique<AdaptiveLink>(context_, info);
      reactor_.add(adapt_link_->query_socket(), [this] { on_adapt_status(); });
    }
    readiness_->on_new_client_file();
  } catch (const std::exception& e) {
    log_->debug("client file not readable yet: {}", e.what());
  }
}

void ClusterRunner::on_probe_reply() {
  auto count = probe_->read_replies();
  if (!count) return;
  const auto now = std::chrono::steady_clock::now();
  if (!controller_ready_) {
    controller_ready_ = true;
    if (readiness_) readiness_->on_reply(now);
    if (controller_) controller_->ready();
    log_->info("Controller is ready ({} engines registered)", *count);
  }
  if (*count > 0) any_registered_ = true;
  if (monitor_) handle(monitor_->on_registered(*count, now));
}

void ClusterRunner::poll_controller(TimePoint now) {
  for (const auto& e : controller_->poll(now)) {
    switch (e.kind) {
      case LauncherEvent::Kind::Info:
        if (!e.message.empty()) log_->info("{}", e.message);
        break;
      case LauncherEvent::Kind::Warning:
        log_->warn("{}", e.message);
        break;
      case LauncherEvent::Kind::Stopped:
        record_.controller = controller_->state();
        if (!controller_ready_) {
          fail_start(e.message);
        } else {
          on_controller_stopped(e, now);
        }
        return;
    }
  }
}

void ClusterRunner::handle(const std::vector<MonitorAction>& actions) {
  for (const auto& a : actions) {
    switch (a.kind) {
      case MonitorAction::Kind::Progress: {
        const auto st = launcher_status();
        log_->info("{}{}", a.message, st.empty() ? "" : ", " + st);
        break;
      }
      case MonitorAction::Kind::Success:
        log_->info("{}", a.message);
        break;
      case MonitorAction::Kind::Warning: {
        auto st = launcher_status();
        for (const auto& set : sets_) {
          auto where = set.launcher->output_location();
          if (!where.empty()) st += (st.empty() ? "output in " : ", output in ") + where;
        }
        log_->warn("{}{}", a.message, st.empty() ? "" : " (" + st + ")");
        break;
      }
      case MonitorAction::Kind::EarlyShutdown: {
        log_->error("{}", a.message);
        auto out = engines_output();
        if (!out.empty()) log_->error("Engine output:\n{}", out);
        if (notifier_.active()) {
          notifier_.report(exit_code::error,
                           a.message + (out.empty() ? "" : "\nEngine output:\n" + out));
        }
        log_->error("IPython cluster: stopping");
        stop_all("early shutdown");
        return;
      }
    }
  }
}

std::string ClusterRunner::engines_output() {
  std::string out;
  for (auto& set : sets_) out += set.launcher->output_tail(20);
  return out;
}

void ClusterRunner::fail_start(const std::string& message) {
  log_->critical("{}", message);
  notifier_.report(exit_code::error, message);
  exit_code_ = exit_code::error;
  stop_all("start failed");
}

void ClusterRunner::stop_all(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  log_->debug("stopping cluster: {}", why);
  // Engines first, so they unregister from a live controller.
  bool any_engines = false;
  for (auto& set : sets_) {
    any_engines = any_engines || set.launcher->running() > 0;
    set.launcher->stop();
  }
  if (any_engines && !record_.sets.empty()) {
    log_->info("Stopping engine(s): {}", record_.sets.back().id);
  }
  if (controller_) controller_->stop();
  std::error_code ec;
  std::filesystem::remove(cluster_file_, ec);
  if (notifier_.active()) {
    notifier_.report(
        exit_code_ == 0 ? exit_code::error : exit_code_,
        "The cluster stopped during start-up (" + why + "); see " + profile_.log().string());
  }
  reactor_.stop();
}

void ClusterRunner::write_record() {
  if (stopping_) return;
  try {
    if (record_.any_running()) {
      write_cluster_file(cluster_file_, record_);
    } else {
      std::error_code ec;
      std::filesystem::remove(cluster_file_, ec);
    }
  } catch (const std::exception& e) {
    log_->error("Cannot write the cluster file {}: {}", cluster_file_.string(), e.what());
  }
}

std::string ClusterRunner::new_set_id(const std::vector<std::string>& also_taken) const {
  std::string base = std::to_string(std::time(nullptr));
  std::string id = base;
  for (int i = 1;; ++i) {
    bool taken = std::find(also_taken.begin(), also_taken.end(), id) != also_taken.end();
    for (const auto& s : record_.sets) taken = taken || s.id == id;
    if (!taken) return id;
    id = base + "-" + std::to_string(i);
  }
}

}  // namespace ipp::cluster
