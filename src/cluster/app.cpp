#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include "launchers/recorded.hpp"
#include "launchers/ssh_engines.hpp"
#include "runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

namespace ipp::cluster {

namespace {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

std::string app_name(const std::string& sub) {
  if (sub == "start") return "IPClusterStart";
  if (sub == "stop") return "IPClusterStop";
  if (sub == "engines") return "IPClusterEngines";
  if (sub == "list") return "IPClusterList";
  if (sub == "clean") return "IPClusterClean";
  if (sub == "profile") return "ProfileCreate";
  return "IPCluster";
}

ipp::config::ProfileOptions profile_options(const ClusterOptions& o) {
  ipp::config::ProfileOptions p;
  if (o.ipython_dir) p.ipython_dir = *o.ipython_dir;
  if (o.profile) p.profile = *o.profile;
  if (o.profile_dir) {
    p.profile_dir = *o.profile_dir;
  } else if (const char* env = std::getenv("IPP_PROFILE_DIR"); env != nullptr && *env != '\0') {
    p.profile_dir = env;
  }
  return p;
}

ipp::config::LoadedConfig load_config(const ProfileDir& pdir, const ClusterOptions& o) {
  auto config = ipp::config::load_app_config(pdir.location(), "ipcluster",
                                             ipp::config::system_config_dirs());
  if (o.config_file) {
    fs::path f = *o.config_file;
    auto extra = f.extension() == ".json" ? ipp::config::load_json_config(f)
                                          : ipp::config::load_python_config(f);
    ipp::config::merge(config, extra, f.string());
  }
  ipp::config::apply_cli_config(config, o.cli);
  ipp::config::fold_legacy(config);
  return config;
}

fs::path pid_file(const ProfileDir& pdir, const std::string& cluster_id) {
  return pdir.pid() / (cluster_id.empty() ? "ipcluster.pid" : "ipcluster-" + cluster_id + ".pid");
}

// A pid file's process, if it still is an ipcluster (pids get reused).
int live_ipcluster(const fs::path& pidf) {
  int pid = read_pid_file(pidf);
  if (pid <= 0 || pid == ::getpid() || !pid_alive(pid)) return -1;
  std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
  std::string text((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  return text.find("ipcluster") != std::string::npos ? pid : -1;
}

enum class Alive { yes, no, unknown };

// What a cluster file's processes are doing: local pids are checked here, remote ones (SSH
// controller, SSH engines, the proxy's `ipcluster engines`) with `kill -0` over SSH. A host that
// cannot be reached leaves its processes unknown.
struct Liveness {
  Alive controller = Alive::no;
  int engines_alive = 0;
  int engines_unknown = 0;
  std::vector<std::string> unreachable;  // "host: reason"

  bool maybe_running() const {
    return controller != Alive::no || engines_alive > 0 || engines_unknown > 0;
  }
};

Liveness probe_record(const ClusterRecord& r, const ClusterSettings& s,
                      std::optional<double> timeout_cap = std::nullopt) {
  struct Group {
    SshTarget target;
    std::vector<long> pids;
  };
  std::map<std::string, Group> groups;
  auto remote = [&](const LauncherState& st, const SshHostSettings& h) {
    const int port = port_from_ssh_args(st.ssh_args);
    double timeout = h.ssh_timeout;
    if (timeout_cap) timeout = std::min(timeout, *timeout_cap);
    const auto key = st.user + "@" + st.hostname + ":" + std::to_string(port);
    auto& g = groups[key];
    if (g.pids.empty()) {
      g.target = target_for(st.user, st.hostname, port, h.strict_host_key_checking, h.identity_file,
                            timeout);
    }
    g.pids.push_back(st.pid);
  };
  SshHostSettings engine_host;
  engine_host.strict_host_key_checking = s.strict_host_key_checking;
  engine_host.identity_file = s.identity_file;
  engine_host.ssh_timeout = s.ssh_timeout;

  const bool ctl_remote = r.controller && r.controller->state == "running" &&
                          r.controller->pid > 0 && r.controller_class == "ssh";
  if (ctl_remote) remote(*r.controller, s.ssh_controller.host);
  for (const auto& set : r.sets) {
    if (r.engine_class == "sshproxy") {
      if (set.set.state == "running" && set.set.pid > 0) remote(set.set, s.ssh_proxy.host);
      continue;
    }
    if (r.engine_class != "ssh") continue;
    for (const auto& [k, e] : set.engines) {
      if (e.state == "running" && e.pid > 0) remote(e, engine_host);
    }
  }
  // key@pid -> state
  std::map<std::string, std::map<long, Alive>> states;
  Liveness out;
  for (auto& [key, g] : groups) {
    auto& st = states[key];
    auto conn = SshConnection::connect(g.target);
    Result<std::set<long>> alive =
        conn.ok() ? remote_alive(**conn, g.pids) : Result<std::set<long>>(conn.error());
    if (!alive.ok()) {
      out.unreachable.push_back(alive.error().message);
      for (long pid : g.pids) st[pid] = Alive::unknown;
      continue;
    }
    for (long pid : g.pids) st[pid] = alive->count(pid) != 0 ? Alive::yes : Alive::no;
  }
  auto remote_state = [&](const LauncherState& e) {
    const auto key =
        e.user + "@" + e.hostname + ":" + std::to_string(port_from_ssh_args(e.ssh_args));
    return states[key][e.pid];
  };
  auto tri = [](std::optional<bool> v) {
    return !v ? Alive::unknown : *v ? Alive::yes : Alive::no;
  };
  if (r.controller && r.controller->state == "running") {
    if (r.controller_class == "local") {
      out.controller = pid_alive(static_cast<int>(r.controller->pid)) ? Alive::yes : Alive::no;
    } else if (r.controller_class == "mpi" || is_batch_class(r.controller_class)) {
      out.controller = tri(recorded_alive(r.controller_class, *r.controller, false, s));
    } else if (ctl_remote) {
      out.controller = remote_state(*r.controller);
    } else {
      out.controller = Alive::unknown;  // a launcher we cannot check (batch systems)
    }
  }
  for (const auto& set : r.sets) {
    if (r.engine_class == "mpi" || is_batch_class(r.engine_class)) {
      switch (tri(recorded_alive(r.engine_class, set.set, true, s))) {
        case Alive::yes: out.engines_alive += set.set.n; break;
        case Alive::unknown: out.engines_unknown += set.set.n; break;
        case Alive::no: break;
      }
      continue;
    }
    if (r.engine_class == "sshproxy") {
      if (set.set.state != "running" || set.set.pid <= 0) continue;
      switch (remote_state(set.set)) {
        case Alive::yes: out.engines_alive += set.set.n; break;
        case Alive::unknown: out.engines_unknown += set.set.n; break;
        case Alive::no: break;
      }
      continue;
    }
    for (const auto& [k, e] : set.engines) {
      if (e.state != "running") continue;
      Alive a = Alive::unknown;
      if (r.engine_class == "local") {
        a = pid_alive(static_cast<int>(e.pid)) ? Alive::yes : Alive::no;
      } else if (r.engine_class == "ssh") {
        a = e.pid > 0 ? remote_state(e) : Alive::no;
      }
      if (a == Alive::yes) ++out.engines_alive;
      if (a == Alive::unknown) ++out.engines_unknown;
    }
  }
  return out;
}

// Whether anything a cluster file records may still run (unknown counts as running).
bool record_alive(const ClusterRecord& r, const ClusterSettings& s) {
  return probe_record(r, s).maybe_running();
}

int cmd_start(const ClusterOptions& o, bool with_controller) {
  const std::string app = app_name(o.subcommand);
  auto pdir = ProfileDir::resolve(profile_options(o), /*create=*/with_controller);
  auto config = load_config(pdir, o);
  auto log = ipp::log::get(app);
  for (const auto& w : config.warnings) log->warn("{}", w);
  for (const auto& w : o.warnings) log->warn("{}", w);
  auto settings = resolve_settings(config, o, pdir.location());
  if (o.work_dir) {
    log->info("Changing to working dir: {}", *o.work_dir);
    fs::current_path(*o.work_dir);
  }

  const auto cfile = pdir.cluster_file(settings.cluster_id);
  if (with_controller && fs::exists(cfile)) {
    try {
      auto rec = read_cluster_file(cfile);
      if (rec && record_alive(*rec, settings)) {
        log->critical("Cluster is already running at {}. use `ipcluster stop` to stop the cluster.",
                      cfile.string());
        return exit_code::already_started;
      }
      log->info("Removing stale cluster file {} (nothing it records is running)", cfile.string());
    } catch (const std::exception& e) {
      log->error("Error loading cluster from file {}: {}. Assuming stopped cluster.",
                 cfile.string(), e.what());
    }
    std::error_code ec;
    fs::remove(cfile, ec);
  }
  const auto pidf = pid_file(pdir, settings.cluster_id);
  if (int other = live_ipcluster(pidf); other > 0 && with_controller) {
    log->critical("Cluster is already running (ipcluster pid {}, {}). use `ipcluster stop` to stop "
                  "the cluster.", other, pidf.string());
    return exit_code::already_started;
  }

  DaemonNotifier notifier;
  if (settings.daemonize) {
    auto logfile = pdir.log() / ("ipcluster-" + settings.cluster_id + "-" +
                                 std::to_string(::getpid()) + ".log");
    notifier = daemonize(logfile);
    // stderr is the log file now; re-create the logger's sink on it.
    auto level = log->level();
    ipp::log::init(app, level);
    log = ipp::log::get(app);
  }
  log->info("Starting ipcluster with [daemonize={}]", settings.daemonize ? "True" : "False");
  write_pid_file(pidf, ::getpid());
  int rc = exit_code::ok;
  try {
    ClusterRunner runner(settings, pdir, with_controller, notifier);
    rc = runner.run();
  } catch (...) {
    std::error_code ec;
    fs::remove(pidf, ec);
    throw;
  }
  std::error_code ec;
  if (read_pid_file(pidf) == ::getpid()) fs::remove(pidf, ec);
  return rc;
}

// Stops what a cluster file records, without the ipcluster that wrote it.
void stop_record(const ClusterRecord& r, const ClusterSettings& s, const ProfileDir& pdir,
                 const std::shared_ptr<spdlog::logger>& log) {
  auto kill_remote = [&](const LauncherState& st, const SshHostSettings& h, const char* what,
                         std::chrono::seconds grace) {
    const int port = port_from_ssh_args(st.ssh_args);
    auto target = target_for(st.user, st.hostname, port, h.strict_host_key_checking,
                             h.identity_file, h.ssh_timeout);
    auto conn = SshConnection::connect(target);
    Status done = conn.ok() ? remote_kill(**conn, {st.pid}, grace) : Status(conn.error());
    if (!done.ok()) {
      log->error("Could not stop the {} on {} (remote pid {}): {}", what, target.describe(), st.pid,
                 done.error().message);
    } else {
      log->info("Stopped the {} on {} (remote pid {})", what, target.describe(), st.pid);
    }
  };
  for (const auto& set : r.sets) {
    log->info("Stopping engine(s): {}", set.id);
    if (r.engine_class == "mpi" || is_batch_class(r.engine_class)) {
      stop_recorded(r.engine_class, set.set, true, s, log);
    } else if (r.engine_class == "local") {
      for (const auto& [k, e] : set.engines) {
        if (e.state == "running" && e.pid > 0) ::kill(static_cast<int>(e.pid), SIGTERM);
      }
      for (const auto& [k, e] : set.engines) {
        if (e.state == "running" && e.pid > 0) terminate(static_cast<int>(e.pid));
      }
    } else if (r.engine_class == "sshproxy") {
      if (set.set.state == "running" && set.set.pid > 0) {
        kill_remote(set.set, s.ssh_proxy.host, "remote `ipcluster engines`",
                    std::chrono::seconds(20));
      }
    } else if (r.engine_class == "ssh") {
      // Group remote pids by host.
      std::map<std::string, std::pair<SshTarget, std::vector<long>>> by_host;
      for (const auto& [k, e] : set.engines) {
        if (e.state != "running" || e.pid <= 0) continue;
        int port = port_from_ssh_args(e.ssh_args);
        auto key = e.user + "@" + e.hostname + ":" + std::to_string(port);
        auto& slot = by_host[key];
        slot.first = target_for(e.user, e.hostname, port, s.strict_host_key_checking,
                                s.identity_file, s.ssh_timeout);
        slot.second.push_back(e.pid);
      }
      for (auto& [key, v] : by_host) {
        auto conn = SshConnection::connect(v.first);
        if (!conn.ok()) {
          log->error("Could not stop engines on {}: {}", v.first.describe(), conn.error().message);
          continue;
        }
        auto st = remote_kill(**conn, v.second);
        if (!st.ok()) {
          log->error("Could not stop engines on {}: {}", v.first.describe(), st.error().message);
        }
      }
    }
  }
  if (r.controller && (r.controller_class == "mpi" || is_batch_class(r.controller_class))) {
    log->info("Stopping controller");
    stop_recorded(r.controller_class, *r.controller, false, s, log);
  }
  if (r.controller && r.controller->state == "running" && r.controller->pid > 0 &&
      r.controller_class == "local") {
    log->info("Stopping controller");
    terminate(static_cast<int>(r.controller->pid));
    log->info("Controller stopped: {{'exit_code': None, 'pid': {}}}", r.controller->pid);
  }
  if (r.controller && r.controller->state == "running" && r.controller->pid > 0 &&
      r.controller_class == "ssh") {
    log->info("Stopping controller");
    kill_remote(*r.controller, s.ssh_controller.host, "controller", std::chrono::seconds(5));
    if (!s.ssh_controller.to_fetch) {
      // The copies fetched at start describe a controller that is gone.
      std::error_code ec;
      fs::remove(pdir.client_file(r.cluster_id), ec);
      fs::remove(pdir.engine_file(r.cluster_id), ec);
    }
  }
}

int cmd_stop(const ClusterOptions& o) {
  auto log = ipp::log::get("IPClusterStop");
  auto pdir = ProfileDir::resolve(profile_options(o), /*create=*/false);
  auto config = load_config(pdir, o);
  auto settings = resolve_settings(config, o, pdir.location());
  std::vector<std::string> ids;
  if (o.all) {
    for (const auto& f : cluster_files(pdir.location())) ids.push_back(cluster_id_from_file(f));
    if (ids.empty()) {
      log->info("No clusters to stop");
      return exit_code::ok;
    }
  } else if (!o.extra_args.empty()) {
    ids = o.extra_args;
  } else {
    ids.push_back(settings.cluster_id);
  }
  for (const auto& id : ids) {
    const auto cfile = pdir.cluster_file(id);
    const auto pidf = pid_file(pdir, id);
    const int owner = live_ipcluster(pidf);
    if (!fs::exists(cfile) && owner <= 0) {
      log->critical("Could not find cluster file [Errno 2] No such file or directory: '{}'",
                    cfile.string());
      return exit_code::already_stopped;
    }
    log->info("Stopping cluster {}", id.empty() ? "''" : id);
    // The ipcluster that started the cluster stops it best (it holds the SSH details); give it
    // the usual grace, then stop whatever the file still records ourselves.
    if (owner > 0) {
      ::kill(owner, SIGTERM);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (pid_alive(owner) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (pid_alive(owner)) log->warn("ipcluster (pid {}) did not exit in 60 s", owner);
    }
    try {
      if (auto rec = read_cluster_file(cfile)) stop_record(*rec, settings, pdir, log);
    } catch (const std::exception& e) {
      log->error("Could not read {}: {}", cfile.string(), e.what());
    }
    std::error_code ec;
    fs::remove(cfile, ec);
    if (live_ipcluster(pidf) <= 0) fs::remove(pidf, ec);
  }
  return exit_code::ok;
}

std::string pad(std::string s, std::size_t width, bool right = false) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

std::string launcher_display(const std::string& cls) {
  static const std::map<std::string, std::string> names = {
      {"local", "Local"}, {"ssh", "SSH"}, {"sshproxy", "SSHProxy"}, {"mpi", "MPI"},
      {"slurm", "Slurm"}, {"pbs", "PBS"}, {"sge", "SGE"},           {"lsf", "LSF"},
      {"htcondor", "HTCondor"}, {"winhpc", "WindowsHPC"}, {"batch", "Batch"}};
  auto it = names.find(cls);
  if (it != names.end()) return it->second;
  auto dot = cls.rfind('.');
  std::string base = dot == std::string::npos ? cls : cls.substr(dot + 1);
  auto suffix = base.find("EngineSetLauncher");
  return suffix == std::string::npos ? base : base.substr(0, suffix);
}

int cmd_list(const ClusterOptions& o) {
  auto log = ipp::log::get("IPClusterList");
  std::vector<fs::path> profiles;
  auto popts = profile_options(o);
  if (o.profile_dir || (o.profile && *o.profile != "default")) {
    profiles.push_back(ProfileDir::resolve(popts, false).location());
  } else {
    auto ipdir = ipp::config::locate_ipython_dir(popts.ipython_dir);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(ipdir, ec)) {
      if (e.is_directory() && e.path().filename().string().rfind("profile_", 0) == 0) {
        profiles.push_back(e.path());
      }
    }
    std::sort(profiles.begin(), profiles.end());
  }
  auto ipdir = ipp::config::locate_ipython_dir(popts.ipython_dir);
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  std::vector<std::string> rows;
  for (const auto& p : profiles) {
    for (const auto& f : cluster_files(p)) {
      std::optional<ClusterRecord> rec;
      try {
        rec = read_cluster_file(f);
      } catch (const std::exception& e) {
        log->warn("Failed to load cluster from {}: {}", f.string(), e.what());
        continue;
      }
      if (!rec) continue;
      ClusterSettings settings;
      const bool remote = rec->controller_class != "local" || rec->engine_class != "local";
      if (remote) {
        // SSH options (host key checking, keys, timeouts) from that profile's config.
        try {
          ipp::config::ProfileOptions po;
          po.profile_dir = p.string();
          auto pd = ProfileDir::resolve(po, false);
          settings = resolve_settings(load_config(pd, ClusterOptions{}), ClusterOptions{}, p);
        } catch (const std::exception& e) {
          log->debug("settings of {}: {}", p.string(), e.what());
        }
      }
      // Listing must stay quick when a host is away.
      const auto live = probe_record(*rec, settings, 5.0);
      for (const auto& why : live.unreachable) {
        log->warn("Cannot check remote processes of cluster {} ({}); shown as unknown",
                  rec->cluster_id.empty() ? "''" : rec->cluster_id, why);
      }
      const std::string running = live.controller == Alive::yes  ? "True"
                                  : live.controller == Alive::no ? "False"
                                                                 : "unknown";
      std::string engines = std::to_string(live.engines_alive);
      if (live.engines_unknown > 0) engines += "+" + std::to_string(live.engines_unknown) + "?";
      std::string profile_name = p.parent_path() == ipdir &&
                                         p.filename().string().rfind("profile_", 0) == 0
                                     ? p.filename().string().substr(8)
                                     : p.string();
      std::string id = rec->cluster_id.empty() ? "''" : rec->cluster_id;
      rows.push_back(pad(profile_name, 16) + " " + pad(id, 32) + " " + pad(running, 7) + " " +
                     pad(engines, 7, true) + " " + launcher_display(rec->engine_class));
      all.push_back(rec->to_json());
      // As Python's loader does: a file whose processes are all gone is removed.
      if (!live.maybe_running()) {
        std::error_code ec;
        fs::remove(f, ec);
      }
    }
  }
  if (o.output_format == "json") {
    std::cout << python_json_dumps(all) << std::flush;
    return exit_code::ok;
  }
  std::cout << pad("PROFILE", 16) << " " << pad("CLUSTER ID", 32) << " RUNNING ENGINES LAUNCHER\n";
  for (const auto& r : rows) std::cout << r << "\n";
  return exit_code::ok;
}

int cmd_clean(const ClusterOptions& o) {
  auto log = ipp::log::get("IPClusterClean");
  std::vector<ProfileDir> pdirs;
  auto popts = profile_options(o);
  std::vector<fs::path> locations;
  if (o.all) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(ipp::config::locate_ipython_dir(popts.ipython_dir), ec)) {
      if (e.is_directory() && e.path().filename().string().rfind("profile_", 0) == 0) {
        locations.push_back(e.path());
      }
    }
  } else {
    locations.push_back(ProfileDir::resolve(popts, false).location());
  }
  for (const auto& loc : locations) {
    log->info("Cleaning ipython cluster files in {}", loc.string());
    for (const auto& f : cluster_files(loc)) {
      if (!o.force) {
        try {
          auto rec = read_cluster_file(f);
          if (rec && record_alive(*rec, ClusterSettings{})) {
            log->critical("Cluster {} is still running. Use --force to remove its files anyway, "
                          "or `ipcluster stop` first.", cluster_id_from_file(f));
            return exit_code::error;
          }
        } catch (const std::exception& e) {
          log->error("Removing cluster file, which failed to load {}: {}", f.string(), e.what());
        }
      }
      std::error_code ec;
      fs::remove(f, ec);
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(loc / "log", ec)) {
      if (e.is_regular_file()) fs::remove(e.path(), ec);
    }
    for (const auto& e : fs::directory_iterator(loc / "security", ec)) {
      auto name = e.path().filename().string();
      if (name.rfind("ipcontroller-", 0) == 0 && e.path().extension() == ".json") {
        fs::remove(e.path(), ec);
      }
    }
  }
  return exit_code::ok;
}

int cmd_profile_create(const ClusterOptions& o) {
  auto log = ipp::log::get("ProfileCreate");
  auto popts = profile_options(o);
  if (!o.profile_name.empty()) popts.profile = o.profile_name;
  auto pdir = ProfileDir::resolve(popts, /*create=*/true);
  const auto templates = profile_templates_dir();
  if (templates.empty()) {
    throw ConfigError("profile templates not found (set IPP_PROFILE_TEMPLATES to the profiles/ "
                      "directory of the ipp source or install tree)");
  }
  for (const char* name : {"ipcluster_config.py", "ipcontroller_config.py", "ipengine_config.py"}) {
    auto dest = pdir.location() / name;
    if (fs::exists(dest) && !o.overwrite) {
      log->info("Config file {} already exists; keeping it (use --overwrite to replace)",
                dest.string());
      continue;
    }
    log->info("Generating default config file: '{}'", dest.string());
    fs::copy_file(templates / name, dest, fs::copy_options::overwrite_existing);
  }
  std::cout << pdir.location().string() << "\n";
  return exit_code::ok;
}

}  // namespace

fs::path profile_templates_dir() {
  auto ok = [](const fs::path& d) { return fs::exists(d / "ipcluster_config.py"); };
  if (const char* env = std::getenv("IPP_PROFILE_TEMPLATES"); env != nullptr && *env != '\0') {
    if (ok(env)) return env;
  }
  const auto bin = self_dir();
  for (const auto& d : {bin / ".." / "share" / "ipp" / "profiles", bin / ".." / ".." / "profiles"}) {
    if (ok(d)) return fs::weakly_canonical(d);
  }
  // The source tree this library was built from (src/cluster/app.cpp -> profiles/).
  auto src = fs::path(__FILE__).parent_path().parent_path().parent_path() / "profiles";
  if (ok(src)) return src;
  return {};
}

int run(ClusterOptions o) {
  const std::string app = app_name(o.subcommand);
  auto level = spdlog::level::info;
  if (o.debug) level = spdlog::level::debug;
  if (o.quiet) level = spdlog::level::critical;
  if (o.log_level) {
    auto parsed = ipp::log::parse_level(*o.log_level);
    if (!parsed) {
      std::cerr << "[" << app << "] CRITICAL | Bad config encountered during initialization: "
                << "invalid log level '" << *o.log_level << "'\n";
      return exit_code::error;
    }
    level = *parsed;
  }
  ipp::log::init(app, level);
  auto log = ipp::log::get(app);
  try {
    if (o.subcommand == "start") return cmd_start(o, true);
    if (o.subcommand == "engines") return cmd_start(o, false);
    if (o.subcommand == "stop") return cmd_stop(o);
    if (o.subcommand == "list") return cmd_list(o);
    if (o.subcommand == "clean") return cmd_clean(o);
    if (o.subcommand == "profile") return cmd_profile_create(o);
    if (o.subcommand == "nbextension") {
      log->warn("ipcluster nbextension is deprecated and does nothing here");
      return exit_code::ok;
    }
    return exit_code::error;
  } catch (const ConfigError& e) {
    log->critical("{}", e.what());
    return exit_code::error;
  } catch (const std::exception& e) {
    log->critical("{}", e.what());
    return exit_code::error;
  }
}

}  // namespace ipp::cluster
