#include "runner.hpp"

#include "launchers/ssh_engines.hpp"
#include "launchers/ssh_remote.hpp"

#include <ipp/cluster/process.hpp>
#include <ipp/config/connection_info.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

namespace ipp::cluster {

namespace {

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string indent(const std::string& text) {
  std::string out = "  ";
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out + "\n";
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& a : v) out += (out.empty() ? "" : " ") + a;
  return out;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<std::pair<std::string, std::string>> remote_env(
    const std::string& remote_profile_dir, const std::string& cluster_id,
    const std::map<std::string, std::string>& extra) {
  std::vector<std::pair<std::string, std::string>> env(extra.begin(), extra.end());
  env.emplace_back("IPP_PROFILE_DIR", remote_profile_dir);
  env.emplace_back("IPP_CLUSTER_ID", cluster_id);
  return env;
}

}  // namespace

ClusterRunner::ClusterRunner(ClusterSettings settings, ipp::config::ProfileDir profile,
                             bool with_controller, DaemonNotifier notifier)
    : s_(std::move(settings)),
      profile_(std::move(profile)),
      with_controller_(with_controller),
      notifier_(notifier),
      log_(ipp::log::get(spdlog::default_logger()->name())) {
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
    for (auto& set : launched_) set.launcher->signal(signo);
  };
  reactor_.on_signal(SIGUSR1, relay);
  reactor_.on_signal(SIGUSR2, relay);

  if (with_controller_) {
    if (!start_controller()) return exit_code_;
  } else {
    if (!std::filesystem::exists(profile_.engine_file(s_.cluster_id))) {
      fail_start("No controller connection file " + profile_.engine_file(s_.cluster_id).string() +
                 "; start a controller first (ipcluster start, or ipcontroller)");
      return exit_code_;
    }
    controller_ready_ = true;
  }
  controller_started_ = std::chrono::steady_clock::now();
  reactor_.call_every(std::chrono::milliseconds(250), [this] { tick(); });
  if (!with_controller_) start_engines();
  if (!stopping_) reactor_.run();
  return exit_code_;
}

bool ClusterRunner::start_controller() {
  if (s_.controller_launcher == "ssh") return start_ssh_controller();
  if (s_.controller_launcher != "local") return start_launched_controller();
  LocalProc p;
  p.key = "controller";
  p.output_file = (profile_.log() / ("ipcontroller-" + s_.cluster_id + "-" +
                                     std::to_string(::getpid()) + ".log")).string();
  SpawnSpec spec;
  spec.argv = s_.controller_cmd;
  spec.argv.push_back("--profile-dir=" + profile_.location().string());
  if (!s_.cluster_id.empty()) spec.argv.push_back("--cluster-id=" + s_.cluster_id);
  if (!s_.controller_ip.empty()) spec.argv.push_back("--ip=" + s_.controller_ip);
  if (!s_.controller_location.empty()) spec.argv.push_back("--location=" + s_.controller_location);
  spec.argv.insert(spec.argv.end(), s_.controller_args.begin(), s_.controller_args.end());
  spec.argv.insert(spec.argv.end(), s_.cluster_controller_args.begin(),
                   s_.cluster_controller_args.end());
  spec.env = s_.environment;
  spec.env["IPP_PROFILE_DIR"] = profile_.location().string();
  spec.env["IPP_CLUSTER_ID"] = s_.cluster_id;
  spec.output_file = p.output_file;
  log_->info("Starting controller: {}", join(spec.argv));
  try {
    auto sp = spawn(spec);
    p.pid = sp.pid;
    p.pidfd = sp.pidfd;
  } catch (const std::exception& e) {
    fail_start(std::string("Controller failed to start: ") + e.what() +
               " (set c.ControllerLauncher.controller_cmd)");
    return false;
  }
  p.running = true;
  log_->info("Controller started (pid {}), output in {}", p.pid, p.output_file);
  controller_ = p;
  LauncherState st;
  st.cluster_id = s_.cluster_id;
  st.profile_dir = profile_.location().string();
  st.pid = p.pid;
  st.output_file = p.output_file;
  record_.controller = st;
  write_record();
  watch(*controller_, true);
  return true;
}

bool ClusterRunner::start_ssh_controller() {
  const auto& c = s_.ssh_controller;
  const std::string& rpd = c.host.remote_profile_dir;
  RemoteController rc;
  rc.target = target_for(c.host.user, c.host.hostname, c.host.port, c.host.strict_host_key_checking,
                         c.host.identity_file, c.host.ssh_timeout);
  const auto client = profile_.client_file(s_.cluster_id);
  const auto engine = profile_.engine_file(s_.cluster_id);
  if (c.to_fetch) {
    rc.fetch = *c.to_fetch;
  } else {
    rc.fetch = connection_file_pairs(client, engine, rpd, /*fetch=*/true);
    // Copies left from an earlier run would point engines at a controller that is gone.
    std::error_code ec;
    std::filesystem::remove(client, ec);
    std::filesystem::remove(engine, ec);
  }
  RemoteProcessParams p;
  p.env = remote_env(rpd, s_.cluster_id, s_.environment);
  p.argv = remote_controller_argv(s_);
  p.output_file = remote_output_file(rpd, c.controller_cmd, wall_seconds());
  const std::string where = rc.target.describe();
  log_->info("Starting controller on {}: {}", where, join(p.argv));
  auto conn = SshConnection::connect(rc.target);
  if (!conn.ok()) {
    fail_start("The controller could not be started: " + conn.error().message);
    return false;
  }
  rc.conn = std::move(*conn);
  if (auto sent = send_files(*rc.conn, c.to_send); !sent.ok()) {
    fail_start("The controller could not be started: " + sent.error().message);
    return false;
  }
  auto pid = start_detached(*rc.conn, p, rpd, "the controller");
  if (!pid.ok()) {
    fail_start("The controller could not be started: " + pid.error().message);
    return false;
  }
  rc.pid = *pid;
  rc.output_file = p.output_file;
  rc.running = true;
  log_->info("Controller started on {} (remote pid {}), output in {}:{}", where, rc.pid, where,
             rc.output_file);
  LauncherState st;
  st.cluster_id = s_.cluster_id;
  st.profile_dir = profile_.location().string();
  st.pid = rc.pid;
  st.output_file = (profile_.log() /
                    ("ipcontroller-" + s_.cluster_id + "-" + std::to_string(::getpid()) + ".log"))
                       .string();
  st.hostname = c.host.hostname;
  st.user = c.host.user;
  st.remote_output_file = rc.output_file;
  st.remote_profile_dir = rpd;
  st.remote_python = c.host.remote_python;
  if (c.host.port > 0) {
    st.ssh_args = {"-p", std::to_string(c.host.port)};
    st.scp_args = {"-P", std::to_string(c.host.port)};
  }
  record_.controller = st;
  remote_controller_ = std::move(rc);
  write_record();
  return true;
}

SshConnection* ClusterRunner::remote_controller_conn() {
  auto& rc = *remote_controller_;
  if (!rc.conn) {
    auto c = SshConnection::connect(rc.target);
    if (!c.ok()) {
      if (!rc.warned) log_->warn("Cannot reach the controller host: {}", c.error().message);
      rc.warned = true;
      return nullptr;
    }
    rc.conn = std::move(*c);
  }
  return rc.conn.get();
}

bool ClusterRunner::check_remote_controller(TimePoint now) {
  auto& rc = *remote_controller_;
  if (now - rc.last_check < std::chrono::seconds(1)) return true;
  rc.last_check = now;
  auto* conn = remote_controller_conn();
  if (conn == nullptr) return true;  // the readiness timeout reports a host that stays away
  auto alive = remote_alive(*conn, {rc.pid});
  if (!alive.ok()) {
    if (!rc.warned) log_->warn("Cannot check the controller: {}", alive.error().message);
    rc.warned = true;
    rc.conn.reset();
    return true;
  }
  if (alive->empty()) {
    rc.running = false;
    if (record_.controller) record_.controller->state = "after";
    fail_start(remote_controller_failure("exited before it was ready"));
    return false;
  }
  for (const auto& [remote, local] : rc.fetch) {
    auto got = conn->get_file(remote);
    if (!got.ok()) {
      log_->debug("fetching {}: {}", remote, got.error().message);
      rc.conn.reset();
      return true;
    }
    if (!*got || (*got)->empty() || rc.got[local] == **got) continue;
    if (std::filesystem::path(local).extension() == ".json" && !nlohmann::json::accept(**got)) {
      continue;  // still being written
    }
    try {
      std::filesystem::path dest(local);
      if (dest.has_parent_path() && !std::filesystem::exists(dest.parent_path())) {
        std::filesystem::create_directories(dest.parent_path());
        std::filesystem::permissions(dest.parent_path(), std::filesystem::perms::owner_all);
      }
      ipp::config::write_file_atomic(
          dest, **got, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    } catch (const std::exception& e) {
      fail_start("Cannot store the controller's file " + local + ": " + e.what());
      return false;
    }
    rc.got[local] = **got;
    log_->info("Fetched {}:{} to {}", rc.target.describe(), remote, local);
  }
  return true;
}

std::string ClusterRunner::remote_controller_failure(const std::string& what) {
  auto& rc = *remote_controller_;
  const std::string where = rc.target.describe();
  std::string msg = "The controller on " + where + " (remote pid " + std::to_string(rc.pid) + ") " +
                    what + "; no engines were started.";
  std::string tail;
  if (auto* conn = remote_controller_conn()) tail = remote_tail(*conn, rc.output_file, 20);
  if (!tail.empty()) {
    msg += "\nLast lines of its log " + where + ":" + rc.output_file + ":\n" + indent(tail);
  } else {
    msg += "\nIts log " + where + ":" + rc.output_file + " is empty or unreadable.";
  }
  return msg;
}

void ClusterRunner::stop_remote_controller() {
  if (!remote_controller_) return;
  auto& rc = *remote_controller_;
  if (rc.running) {
    log_->info("Stopping controller on {} (remote pid {})", rc.target.describe(), rc.pid);
    Status st = Ok{};
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto* conn = remote_controller_conn();
      if (conn == nullptr) {
        st = make_error(ErrorCode::Remote, rc.target.describe() + ": unreachable");
        continue;
      }
      st = remote_kill(*conn, {rc.pid});
      if (st.ok()) break;
      rc.conn.reset();
    }
    if (st.ok()) {
      log_->info("Controller stopped: {{'pid': {}, 'host': '{}'}}", rc.pid, rc.target.describe());
    } else {
      log_->error("Could not stop the controller on {} (remote pid {}): {}", rc.target.describe(),
                  rc.pid, st.error().message);
    }
    rc.running = false;
  }
  // The fetched copies describe a controller that is gone.
  if (!s_.ssh_controller.to_fetch) {
    std::error_code ec;
    for (const auto& [local, text] : rc.got) std::filesystem::remove(local, ec);
  }
}

void ClusterRunner::start_proxy_engines(EngineSetRecord& set) {
  const auto& p = s_.ssh_proxy;
  const std::string& rpd = p.host.remote_profile_dir;
  log_->info(
      "Starting {} engines with <class "
      "'ipyparallel.cluster.launcher.SSHProxyEngineSetLauncher'>",
      s_.n);
  RemoteHost host;
  host.spec.host = p.host.hostname;
  host.spec.user = p.host.user;
  host.spec.port = p.host.port;
  host.spec.n = s_.n;
  host.target =
      target_for(p.host.user, p.host.hostname, p.host.port, p.host.strict_host_key_checking,
                 p.host.identity_file, p.host.ssh_timeout);
  host.spec.key = host.target.describe();
  host.engines_per_pid = s_.n;
  // The remote ipcluster stops its engines on TERM (each up to 5 s); give it time to.
  host.kill_grace = std::chrono::seconds(20);
  RemoteProcessParams rp;
  rp.env = remote_env(rpd, s_.cluster_id, s_.environment);
  rp.argv = remote_proxy_argv(s_, s_.n);
  auto program = p.ipcluster_cmd;
  program.push_back("engines");
  rp.output_file = remote_output_file(rpd, program, wall_seconds());
  log_->info("Starting `ipcluster engines` on {}: {}", host.spec.key, join(rp.argv));
  auto conn = SshConnection::connect(host.target);
  if (!conn.ok()) {
    log_->error("Engines on {} not started: {}", host.spec.key, conn.error().message);
    engine_start_errors_.push_back(conn.error().message);
    return;
  }
  host.conn = std::move(*conn);
  const auto to_send = p.to_send.value_or(connection_file_pairs(
      profile_.client_file(s_.cluster_id), profile_.engine_file(s_.cluster_id), rpd, false));
  if (auto sent = send_files(*host.conn, to_send); !sent.ok()) {
    log_->error("Engines on {} not started: {}", host.spec.key, sent.error().message);
    engine_start_errors_.push_back(sent.error().message);
    return;
  }
  auto pid = start_detached(*host.conn, rp, rpd, "ipcluster engines");
  if (!pid.ok()) {
    log_->error("Engines on {} not started: {}", host.spec.key, pid.error().message);
    engine_start_errors_.push_back(pid.error().message);
    return;
  }
  host.keys = {"ipcluster-engines"};
  host.pids = {*pid};
  host.outputs = {rp.output_file};
  host.running = {true};
  set.set.pid = *pid;
  set.set.n = s_.n;
  set.set.hostname = p.host.hostname;
  set.set.user = p.host.user;
  set.set.output_file =
      (profile_.log() / ("ipcluster-engines-" + s_.cluster_id + "-" + set.id + ".log")).string();
  set.set.remote_output_file = rp.output_file;
  set.set.remote_profile_dir = rpd;
  set.set.remote_python = p.host.remote_python;
  if (p.host.port > 0) {
    set.set.ssh_args = {"-p", std::to_string(p.host.port)};
    set.set.scp_args = {"-P", std::to_string(p.host.port)};
  }
  log_->info("Started `ipcluster engines -n {}` on {} (remote pid {}), output in {}", s_.n,
             host.spec.key, *pid, rp.output_file);
  hosts_.push_back(std::move(host));
}

void ClusterRunner::watch(LocalProc& p, bool is_controller) {
  if (p.pidfd < 0) return;  // no pidfd: tick() polls
  const std::string key = p.key;
  reactor_.add_fd(p.pidfd, [this, key, is_controller] {
    (void)key;
    (void)is_controller;
    if (controller_) on_local_exit(*controller_, true);
  });
}

void ClusterRunner::on_local_exit(LocalProc& p, bool is_controller) {
  if (!p.running) return;
  auto code = try_reap(p.pid);
  if (!code && pid_alive(p.pid)) return;
  p.running = false;
  p.exit_code = code;
  if (p.pidfd >= 0) {
    reactor_.remove_fd(p.pidfd);
    ::close(p.pidfd);
    p.pidfd = -1;
  }
  if (stopping_) return;
  if (is_controller) {
    if (record_.controller) record_.controller->state = "after";
    if (!controller_ready_) {
      fail_start(controller_failure_message());
      return;
    }
    log_->warn("Controller stopped ({}). Shutting down.", describe_exit(code.value_or(0)));
    stop_all("controller stopped");
    return;
  }
  log_->log(code.value_or(0) == 0 ? spdlog::level::info : spdlog::level::warn,
            "engine {} stopped: {}", p.key, describe_exit(code.value_or(0)));
  update_engine_states();
  if (monitor_) handle(monitor_->on_engine_exit(std::chrono::steady_clock::now()));
}

std::string ClusterRunner::controller_failure_message() {
  std::string msg = "The controller failed to start";
  if (controller_ && controller_->exit_code) msg += " (" + describe_exit(*controller_->exit_code) + ")";
  msg += "; it wrote no connection files, so no engines were started.";
  if (controller_) {
    auto tail = tail_file(controller_->output_file, 20);
    if (!tail.empty()) {
      msg += "\nLast lines of the controller log " + controller_->output_file + ":\n" + indent(tail);
    }
  }
  return msg;
}

void ClusterRunner::tick() {
  if (stopping_) return;
  auto now = std::chrono::steady_clock::now();
  // Without pidfds, notice exits by polling.
  if (controller_ && controller_->running && controller_->pidfd < 0) {
    if (try_reap(controller_->pid) || !pid_alive(controller_->pid)) on_local_exit(*controller_, true);
    if (stopping_) return;
  }
  if (ctl_launcher_) {
    poll_controller_launcher(now);
    if (stopping_) return;
  }
  if (engines_started_) {
    poll_engine_launchers(now);
    if (stopping_) return;
  }
  if (with_controller_ && !engines_started_) {
    if (remote_controller_ && !check_remote_controller(now)) return;
    if (remote_controller_ &&
        now - controller_started_ > std::chrono::duration<double>(s_.connection_info_timeout)) {
      fail_start(remote_controller_failure(
          "did not become ready within " +
          std::to_string(static_cast<int>(s_.connection_info_timeout)) +
          " s (no connection files fetched, or no reply on its registration port; engines and "
          "this host must reach the address in them, e.g. controller_args = ['--ip=*'])"));
      return;
    }
    // A batch controller's clock starts when its job leaves the queue.
    if (ctl_launcher_ && ctl_launcher_->queued()) controller_started_ = now;
    if (now - controller_started_ > std::chrono::duration<double>(s_.connection_info_timeout)) {
      const std::string log_file =
          ctl_launcher_ ? ctl_launcher_->where_output() : controller_->output_file;
      fail_start("The controller did not become ready within " +
                 std::to_string(static_cast<int>(s_.connection_info_timeout)) +
                 " s (no connection files, or no reply on its registration port). "
                 "Controller log " + log_file + ":\n" + indent(tail_file(log_file, 20)));
      return;
    }
    const auto client = profile_.client_file(s_.cluster_id);
    if (std::filesystem::exists(client) && std::filesystem::exists(profile_.engine_file(s_.cluster_id))) {
      auto text = read_text(client);
      if (!text.empty() && text != probe_client_text_) {
        try {
          auto info = ipp::config::read_connection_file(client, ipp::config::ConnectionKind::Client);
          if (probe_) reactor_.remove(probe_->socket());
          probe_ = std::make_unique<RegistrationProbe>(context_, info);
          probe_client_text_ = text;
          reactor_.add(probe_->socket(), [this] {
            auto count = probe_->read_replies();
            if (!count) return;
            if (!controller_ready_) {
              controller_ready_ = true;
              log_->info("Controller is ready ({} engines registered)", *count);
            }
            if (*count > 0) any_registered_ = true;
            if (monitor_) handle(monitor_->on_registered(*count, std::chrono::steady_clock::now()));
          });
          last_request_ = {};
        } catch (const std::exception& e) {
          log_->debug("client file not readable yet: {}", e.what());
        }
      }
      if (probe_ && !controller_ready_ && now - last_request_ >= std::chrono::seconds(1)) {
        probe_->send_request();
        last_request_ = now;
      }
    }
    if (controller_ready_ && now - controller_started_ >= std::chrono::duration<double>(s_.delay)) {
      start_engines();
    }
    return;
  }
  if (!monitor_) return;
  handle(monitor_->on_tick(now));
  if (stopping_) return;
  if (probe_ && monitor_->wants_probe(now)) {
    probe_->send_request();
    monitor_->probed(now);
  }
  auto remote_period = (monitor_->succeeded() || now - controller_started_ >
                                                      std::chrono::duration<double>(s_.early_shutdown))
                           ? std::chrono::seconds(15)
                           : std::chrono::seconds(2);
  if ((!hosts_.empty() || remote_controller_) && now - last_remote_poll_ >= remote_period) {
    last_remote_poll_ = now;
    poll_remote();
  }
  // The daemon's parent is told once the engines are up, or the window has passed.
  if (notifier_.active() &&
      (monitor_->succeeded() ||
       now - controller_started_ > std::chrono::duration<double>(s_.early_shutdown + s_.delay))) {
    notifier_.report(0, "Leaving cluster running: " + cluster_file_.string());
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

void ClusterRunner::start_engines() {
  engines_started_ = true;
  EngineSetRecord set;
  set.id = new_set_id();
  set.set.cluster_id = s_.cluster_id;
  set.set.profile_dir = profile_.location().string();
  set.set.pid = -1;
  if (s_.engine_launcher != "ssh" && s_.engine_launcher != "sshproxy") {
    start_launched_engines();
    return;
  }
  try {
    if (s_.engine_launcher == "ssh") {
      start_ssh_engines(set);
    } else {
      start_proxy_engines(set);
    }
  } catch (const std::exception& e) {
    fail_start(std::string("Engine start failed: ") + e.what());
    return;
  }
  int total = s_.engine_launcher == "sshproxy" ? (set.set.pid > 0 ? s_.n : 0)
                                               : static_cast<int>(set.engines.size());
  set.set.n = total;
  record_.sets.push_back(std::move(set));
  write_record();
  if (total == 0) {
    std::string why;
    for (const auto& e : engine_start_errors_) why += "\n  " + e;
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

void ClusterRunner::start_ssh_engines(EngineSetRecord& set) {
  auto specs = parse_engines_spec(s_.ssh_engines);
  if (specs.empty()) {
    throw std::runtime_error("c.SSHEngineSetLauncher.engines is empty; nothing to start");
  }
  int total = 0;
  for (const auto& h : specs) total += h.n;
  log_->info("Starting {} engines with <class 'ipyparallel.cluster.launcher.SSHEngineSetLauncher'>",
             total);
  if (s_.n_given && total > s_.n) {
    log_->info("Starting all {} engines listed in c.SSHEngineSetLauncher.engines "
               "(Python ipyparallel 7+ would stop at n={})", total, s_.n);
  }
  std::string engine_json = read_text(profile_.engine_file(s_.cluster_id));
  try {
    engine_json = nlohmann::json::parse(engine_json).dump();  // one line for the remote shell
  } catch (const std::exception&) {
  }
  set.set.remote_profile_dir = s_.remote_profile_dir;
  set.set.remote_python = s_.remote_python;
  for (const auto& spec : specs) {
    if (spec.n == 0) continue;
    RemoteHost host;
    host.spec = spec;
    host.target = target_for(spec.user, spec.host, spec.port, s_.strict_host_key_checking,
                             s_.identity_file, s_.ssh_timeout);
    RemoteEngineParams params;
    params.cluster_id = s_.cluster_id;
    params.remote_profile_dir = spec.remote_profile_dir.value_or(s_.remote_profile_dir);
    params.engine_cmd = spec.engine_cmd.value_or(s_.remote_engine_cmd);
    params.engine_args = spec.engine_args.value_or(s_.remote_engine_args);
    params.engine_file_name = profile_.engine_file(s_.cluster_id).filename().string();
    params.engine_file_json = engine_json;
    params.environment = s_.environment;
    params.set_id = set.id;
    for (int i = 0; i < spec.n; ++i) {
      host.keys.push_back(spec.key + "/" + std::to_string(i));
      host.outputs.push_back(params.remote_profile_dir + "/log/ipengine-" + s_.cluster_id + "-" +
                             set.id + "-" + std::to_string(i) + ".log");
    }
    log_->info("Starting {} engines on {} ({})", spec.n, spec.key, join(params.engine_cmd));
    auto conn = SshConnection::connect(host.target);
    if (!conn.ok()) {
      log_->error("Engines on {} not started: {}", spec.key, conn.error().message);
      engine_start_errors_.push_back(conn.error().message);
      continue;
    }
    host.conn = std::move(*conn);
    auto pids = start_remote_engines(*host.conn, params, host.outputs);
    if (!pids.ok()) {
      log_->error("Engines on {} not started: {}", spec.key, pids.error().message);
      engine_start_errors_.push_back(pids.error().message);
      continue;
    }
    host.pids = *pids;
    host.running.assign(host.pids.size(), true);
    for (std::size_t i = 0; i < host.pids.size(); ++i) {
      LauncherState st;
      st.cluster_id = s_.cluster_id;
      st.profile_dir = profile_.location().string();
      st.pid = host.pids[i];
      st.hostname = spec.host;
      st.user = spec.user;
      st.output_file = (profile_.log() / (host.keys[i] + ".log")).string();
      st.remote_output_file = host.outputs[i];
      st.remote_profile_dir = params.remote_profile_dir;
      st.remote_python = s_.remote_python;
      if (spec.port > 0) {
        st.ssh_args = {"-p", std::to_string(spec.port)};
        st.scp_args = {"-P", std::to_string(spec.port)};
      }
      set.engines.emplace_back(host.keys[i], st);
    }
    log_->info("Started {} engines on {} (remote pids {})", host.pids.size(), spec.key,
               [&] {
                 std::string s;
                 for (long p : host.pids) s += (s.empty() ? "" : ",") + std::to_string(p);
                 return s;
               }());
    hosts_.push_back(std::move(host));
  }
}

void ClusterRunner::poll_remote() {
  if (remote_controller_ && remote_controller_->running) {
    auto& rc = *remote_controller_;
    if (auto* conn = remote_controller_conn()) {
      auto alive = remote_alive(*conn, {rc.pid});
      if (!alive.ok()) {
        if (!rc.warned)
          log_->warn("Cannot check the controller on {}: {}", rc.target.describe(),
                     alive.error().message);
        rc.warned = true;
        rc.conn.reset();
      } else if (alive->empty()) {
        rc.running = false;
        if (record_.controller) record_.controller->state = "after";
        log_->warn("Controller on {} (remote pid {}) stopped. Shutting down.", rc.target.describe(),
                   rc.pid);
        stop_all("controller stopped");
        return;
      }
    }
  }
  for (auto& h : hosts_) {
    std::vector<long> live;
    for (std::size_t i = 0; i < h.pids.size(); ++i) {
      if (h.running[i]) live.push_back(h.pids[i]);
    }
    if (live.empty()) continue;
    if (!h.conn) {
      auto c = SshConnection::connect(h.target);
      if (!c.ok()) {
        if (!h.poll_warned) log_->warn("Cannot check engines on {}: {}", h.spec.key, c.error().message);
        h.poll_warned = true;
        continue;
      }
      h.conn = std::move(*c);
    }
    auto alive = remote_alive(*h.conn, live);
    if (!alive.ok()) {
      if (!h.poll_warned) log_->warn("Cannot check engines on {}: {}", h.spec.key, alive.error().message);
      h.poll_warned = true;
      h.conn.reset();
      continue;
    }
    for (std::size_t i = 0; i < h.pids.size(); ++i) {
      if (h.running[i] && alive->count(h.pids[i]) == 0) {
        h.running[i] = false;
        log_->warn("engine {} (remote pid {}) stopped", h.keys[i], h.pids[i]);
        update_engine_states();
        for (int k = 0; k < h.engines_per_pid && monitor_ && !stopping_; ++k) {
          handle(monitor_->on_engine_exit(std::chrono::steady_clock::now()));
        }
        if (stopping_) return;
      }
    }
  }
}

void ClusterRunner::update_engine_states() {
  if (record_.sets.empty()) return;
  if (!launched_.empty()) {
    for (auto& rec : record_.sets) {
      for (const auto& l : launched_) {
        if (l.id != rec.id) continue;
        rec.set = l.launcher->state();
        rec.engines = l.launcher->engine_states();
      }
    }
    write_record();
    return;
  }
  auto& set = record_.sets.back();
  if (s_.engine_launcher == "sshproxy") {
    const bool running = !hosts_.empty() && hosts_.front().running.front();
    set.set.state = running ? "running" : "after";
    write_record();
    return;
  }
  std::vector<std::pair<std::string, LauncherState>> live;
  for (auto& [key, st] : set.engines) {
    bool running = true;
    for (const auto& h : hosts_) {
      for (std::size_t i = 0; i < h.keys.size(); ++i) {
        if (h.keys[i] == key) running = h.running[i];
      }
    }
    if (running) live.emplace_back(key, st);
  }
  set.engines = std::move(live);
  set.set.n = static_cast<int>(set.engines.size());
  if (set.engines.empty()) set.set.state = "after";
  write_record();
}

void ClusterRunner::handle(const std::vector<MonitorAction>& actions) {
  for (const auto& a : actions) {
    switch (a.kind) {
      case MonitorAction::Kind::Progress: {
        const auto st = launcher_status();
        log_->info("{}{}", a.message, st.empty() ? "" : ", " + st);
        break;
      }
      case MonitorAction::Kind::Success: log_->info("{}", a.message); break;
      case MonitorAction::Kind::Warning: {
        auto st = launcher_status();
        for (const auto& set : launched_) {
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
          notifier_.report(exit_code::error, a.message + (out.empty() ? "" : "\nEngine output:\n" + out));
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
  for (auto& set : launched_) out += set.launcher->output_tail(20);
  for (auto& h : hosts_) {
    if (!h.conn) {
      auto c = SshConnection::connect(h.target);
      if (!c.ok()) continue;
      h.conn = std::move(*c);
    }
    for (std::size_t i = 0; i < h.outputs.size(); ++i) {
      auto t = remote_tail(*h.conn, h.outputs[i], 20);
      if (!t.empty()) out += "Output for engine " + h.keys[i] + ":\n" + indent(t);
    }
  }
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
  for (auto& set : launched_) {
    any_engines = any_engines || set.launcher->running() > 0;
    set.launcher->stop();
  }
  for (auto& h : hosts_) {
    std::vector<long> live;
    for (std::size_t i = 0; i < h.pids.size(); ++i) {
      if (h.running[i]) live.push_back(h.pids[i]);
    }
    if (live.empty()) continue;
    any_engines = true;
    Status st = Ok{};
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!h.conn) {
        auto c = SshConnection::connect(h.target);
        if (!c.ok()) {
          st = c.error();
          continue;
        }
        h.conn = std::move(*c);
      }
      st = remote_kill(*h.conn, live, h.kill_grace);
      if (st.ok()) break;
      h.conn.reset();
    }
    if (st.ok()) {
      log_->info("Stopped {} engines on {}",
                 live.size() * static_cast<std::size_t>(h.engines_per_pid), h.spec.key);
    } else {
      std::string pids;
      for (long pid : live) pids += (pids.empty() ? "" : " ") + std::to_string(pid);
      log_->error("Could not stop engines on {} (pids {}): {}", h.spec.key, pids,
                  st.error().message);
    }
    h.running.assign(h.running.size(), false);
  }
  if (any_engines && !record_.sets.empty()) log_->info("Stopping engine(s): {}", record_.sets.back().id);
  stop_remote_controller();
  if (ctl_launcher_) {
    log_->info("Stopping controller");
    ctl_launcher_->stop();
  }
  if (controller_ && controller_->running) {
    log_->info("Stopping controller");
    terminate(controller_->pid);
    controller_->running = false;
    log_->info("Controller stopped: {{'pid': {}}}", controller_->pid);
  }
  std::error_code ec;
  std::filesystem::remove(cluster_file_, ec);
  if (notifier_.active()) {
    notifier_.report(exit_code_ == 0 ? exit_code::error : exit_code_,
                     "The cluster stopped during start-up (" + why + "); see " +
                         profile_.log().string());
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

}  // namespace ipp::cluster
