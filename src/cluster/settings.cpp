#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/engines_spec.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/lookup.hpp>

#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace ipp::cluster {

using ipp::config::ConfigTree;
using ipp::config::get;
using ipp::config::get_or;

std::string strip_home(const std::string& path, const std::string& home) {
  std::string h = home;
  if (h.empty()) return path;
  if (h.back() != '/') h += '/';
  if (path.rfind(h, 0) == 0) return path.substr(h.size());
  return path;
}

namespace {

// Python's ssh_args/scp_args are options for the ssh/scp programs; we talk SSH in-process, so
// only the options with a libssh equivalent (-p, -l, -i) are taken, the rest is reported.
void apply_ssh_args(const std::vector<std::string>& args, const std::string& where, bool in_use,
                    SshHostSettings& h, std::vector<std::string>& warnings) {
  std::vector<std::string> ignored;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_next = i + 1 < args.size();
    if ((a == "-p" || a == "-l" || a == "-i") && has_next) {
      const std::string& v = args[++i];
      if (a == "-p") {
        try {
          h.port = std::stoi(v);
        } catch (const std::exception&) {
          if (in_use) {
            throw ipp::config::ConfigError("c." + where + ".ssh_args: '-p " + v +
                                           "' is not a port");
          }
        }
      } else if (a == "-l") {
        if (h.user.empty()) h.user = v;
      } else if (h.identity_file.empty()) {
        h.identity_file = v;
      }
    } else {
      ignored.push_back(a);
    }
  }
  if (!ignored.empty()) {
    std::string list;
    for (const auto& a : ignored) list += (list.empty() ? "" : " ") + a;
    warnings.push_back("c." + where + ".ssh_args: ignoring '" + list +
                       "' (SSH runs in-process with libssh; use ~/.ssh/config for such options; "
                       "-p, -l and -i are honoured)");
  }
}

SshHostSettings read_ssh_host(const ipp::config::LoadedConfig& config,
                              std::initializer_list<std::string_view> classes,
                              const std::string& where, const std::filesystem::path& profile_dir,
                              bool in_use, std::vector<std::string>& warnings) {
  SshHostSettings h;
  h.hostname = get_or<std::string>(config, classes, "hostname", "");
  h.user = get_or<std::string>(config, classes, "user", "");
  // location = 'user@host' is the one-setting form of hostname + user; it wins when set.
  if (auto loc = get<std::string>(config, classes, "location"); loc && !loc->empty()) {
    std::string user, host;
    int port = 0;
    split_host_key(*loc, user, host, port);
    h.hostname = host;
    if (!user.empty()) h.user = user;
    if (port > 0) h.port = port;
  }
  h.remote_profile_dir = get_or<std::string>(config, classes, "remote_profile_dir", "");
  if (h.remote_profile_dir.empty()) {
    const char* home = std::getenv("HOME");
    h.remote_profile_dir = strip_home(profile_dir.string(), home != nullptr ? home : "");
  }
  h.remote_python = get_or<std::string>(config, classes, "remote_python", "python3");
  h.strict_host_key_checking = get_or<bool>(config, classes, "strict_host_key_checking", true);
  h.identity_file = get_or<std::string>(config, classes, "identity_file", "");
  h.ssh_timeout = get_or<double>(config, classes, "ssh_timeout", 10.0);
  apply_ssh_args(get_or<std::vector<std::string>>(config, classes, "ssh_args", {}), where, in_use,
                 h, warnings);
  for (const char* tool : {"ssh_cmd", "scp_cmd", "scp_args"}) {
    if (get<ConfigTree>(config, classes, tool)) {
      warnings.push_back("c." + where + "." + tool +
                         " is ignored: SSH and file copies run in-process (libssh, SFTP)");
    }
  }
  return h;
}

// A list of 2-item lists/tuples of strings; nullopt when the trait is not set at all (an empty
// list is a setting: nothing to copy, e.g. on a shared filesystem).
std::optional<FilePairs> read_pairs(const ipp::config::LoadedConfig& config,
                                    std::initializer_list<std::string_view> classes,
                                    const std::string& trait, const std::string& shape) {
  auto v = get<ConfigTree>(config, classes, trait);
  if (!v) return std::nullopt;
  const std::string name = "c." + std::string(*classes.begin()) + "." + trait;
  if (!v->is_array())
    throw ipp::config::ConfigError(name + " must be a list of " + shape + " pairs");
  FilePairs out;
  for (const auto& item : *v) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_string() || !item[1].is_string()) {
      throw ipp::config::ConfigError(name + " must be a list of " + shape + " pairs, got " +
                                     item.dump());
    }
    out.emplace_back(item[0].get<std::string>(), item[1].get<std::string>());
  }
  return out;
}

}  // namespace

ClusterSettings resolve_settings(const ipp::config::LoadedConfig& config,
                                 const ClusterOptions& o, const std::filesystem::path& profile_dir) {
  ClusterSettings s;
  s.cluster_id = get_or<std::string>(config, {"IPClusterStart", "IPClusterEngines",
                                              "IPClusterStop", "BaseParallelApplication"},
                                     "cluster_id", "");
  if (o.cluster_id) s.cluster_id = *o.cluster_id;

  if (auto n = get<int>(config, {"Cluster"}, "n")) {
    s.n = *n;
    s.n_given = true;
  }
  if (o.n) {
    s.n = *o.n;
    s.n_given = true;
  }
  if (!s.n_given) s.n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  auto launcher_name = [](const std::string& v, const char* what) {
    auto short_name = ipp::config::launcher_short_name(v);
    if (short_name.empty()) {
      throw ipp::config::ConfigError(std::string("c.Cluster.") + what + " = '" + v +
                                     "': unknown launcher (use 'local', 'ssh', 'sshproxy', "
                                     "'mpi', 'slurm', 'pbs', 'sge', 'lsf', 'htcondor' or "
                                     "'batch')");
    }
    return short_name;
  };
  s.engine_launcher = launcher_name(
      o.engines ? *o.engines : get_or<std::string>(config, {"Cluster"}, "engine_launcher_class", "local"),
      "engine_launcher_class");
  s.controller_launcher = launcher_name(
      o.controller ? *o.controller
                   : get_or<std::string>(config, {"Cluster"}, "controller_launcher_class", "local"),
      "controller_launcher_class");
  for (const auto& [name, what] : {std::pair{s.engine_launcher, "engine_launcher_class"},
                                    std::pair{s.controller_launcher, "controller_launcher_class"}}) {
    if (name == "winhpc") {
      throw ipp::config::ConfigError(std::string("c.Cluster.") + what +
                                     " = 'winhpc': Windows HPC is not supported on this platform");
    }
  }
  if (s.controller_launcher == "sshproxy") {
    throw ipp::config::ConfigError(
        "c.Cluster.controller_launcher_class = 'sshproxy': SSHProxy starts engines only; use "
        "'local', 'ssh', 'mpi' or a batch system for the controller");
  }
  s.controller_ip = o.ip ? *o.ip : get_or<std::string>(config, {"Cluster"}, "controller_ip", "");
  s.controller_location =
      o.location ? *o.location : get_or<std::string>(config, {"Cluster"}, "controller_location", "");
  s.cluster_controller_args =
      get_or<std::vector<std::string>>(config, {"Cluster"}, "controller_args", {});
  s.cluster_controller_args.insert(s.cluster_controller_args.end(), o.extra_args.begin(),
                                   o.extra_args.end());
  if (o.status_port) {
    s.cluster_controller_args.push_back("--status-port=" + std::to_string(*o.status_port));
  }
  s.delay = o.delay ? *o.delay : get_or<double>(config, {"Cluster"}, "delay", 1.0);
  s.early_shutdown =
      get_or<double>(config, {"IPClusterStart", "IPClusterEngines"}, "early_shutdown", 30.0);
  for (auto [field, name] :
       {std::pair{&s.engine_restart_delay, "engine_restart_delay"},
        std::pair{&s.engine_restart_reset, "engine_restart_reset"},
        std::pair{&s.controller_restart_delay, "controller_restart_delay"},
        std::pair{&s.controller_restart_reset, "controller_restart_reset"}}) {
    *field = get_or<double>(config, {"Cluster", "IPClusterStart", "IPClusterEngines"}, name, *field);
    if (*field < 0) throw ipp::config::ConfigError(std::string("c.Cluster.") + name + " must be >= 0");
  }
  for (auto [field, name] : {std::pair{&s.engine_restart_limit, "engine_restart_limit"},
                             std::pair{&s.controller_restart_limit, "controller_restart_limit"}}) {
    *field = get_or<int>(config, {"Cluster", "IPClusterStart", "IPClusterEngines"}, name, 0);
    if (*field < 0) {
      throw ipp::config::ConfigError(std::string("c.Cluster.") + name +
                                     " must be >= 0 (0: no restarts)");
    }
  }
  if (o.adapt || get_or<bool>(config, {"Cluster", "IPClusterStart"}, "adapt", false)) {
    AdaptiveSettings a;
    a.min = o.adapt_min ? *o.adapt_min : get_or<int>(config, {"Cluster", "IPClusterStart"}, "adapt_min", 1);
    a.max = o.adapt_max ? *o.adapt_max : get_or<int>(config, {"Cluster", "IPClusterStart"}, "adapt_max", 0);
    a.idle_timeout = o.idle_timeout ? *o.idle_timeout
                                    : get_or<double>(config, {"Cluster", "IPClusterStart"}, "adapt_idle_timeout", 60.0);
    a.target_duration = get_or<double>(config, {"Cluster", "IPClusterStart"}, "adapt_target_duration", 1.0);
    a.interval = get_or<double>(config, {"Cluster", "IPClusterStart"}, "adapt_interval", 1.0);
    a.check();
    if (s.engine_launcher == "mpi") {
      throw ipp::config::ConfigError(
          "--adapt: MPI engine sets are not adaptive (one mpiexec runs all their engines); use "
          "local or SSH engines or a batch system");
    }
    s.adapt = a;
    // start at the minimum (at least one engine), or at -n when it lies within [min, max]
    s.n = std::max(1, s.n_given ? std::clamp(s.n, a.min, a.max) : a.min);
  } else if (o.adapt_min || o.adapt_max || o.idle_timeout) {
    throw ipp::config::ConfigError("--min, --max and --idle-timeout need --adapt");
  }
  s.daemonize = o.daemonize ? *o.daemonize
                            : get_or<bool>(config, {"IPClusterStart", "IPClusterEngines"},
                                           "daemonize", false);
  s.connection_info_timeout = get_or<double>(
      config, {"LocalControllerLauncher", "ControllerLauncher"}, "connection_info_timeout", 60.0);

  const auto bin = self_dir();
  std::vector<std::string> default_controller{
      std::filesystem::exists(bin / "ipcontroller") ? (bin / "ipcontroller").string()
                                                    : std::string("ipcontroller")};
  s.controller_cmd = get_or<std::vector<std::string>>(
      config, {"LocalControllerLauncher", "ControllerLauncher"}, "controller_cmd",
      default_controller);
  s.controller_args = get_or<std::vector<std::string>>(
      config, {"LocalControllerLauncher", "ControllerLauncher"}, "controller_args", {});
  // Our ipengine next to ipcluster; Python's engine when it is absent.
  std::vector<std::string> default_engine =
      std::filesystem::exists(bin / "ipengine")
          ? std::vector<std::string>{(bin / "ipengine").string()}
          : std::vector<std::string>{IPP_PYTHON, "-m", "ipyparallel.engine"};
  s.engine_cmd = get_or<std::vector<std::string>>(
      config, {"LocalEngineSetLauncher", "LocalEngineLauncher", "EngineLauncher"}, "engine_cmd",
      default_engine);
  s.engine_args = get_or<std::vector<std::string>>(
      config, {"LocalEngineSetLauncher", "LocalEngineLauncher", "EngineLauncher"}, "engine_args",
      {});
  s.engine_delay = get_or<double>(config, {"LocalEngineSetLauncher"}, "delay", 0.1);
  s.environment = get_or<std::map<std::string, std::string>>(
      config, {"LocalEngineSetLauncher", "LocalControllerLauncher", "EngineLauncher",
               "ControllerLauncher", "BaseLauncher"},
      "environment", {});

  if (auto e = get<ConfigTree>(config, {"SSHEngineSetLauncher"}, "engines")) s.ssh_engines = *e;
  const std::initializer_list<std::string_view> ssh_engine_classes = {
      "SSHEngineSetLauncher", "SSHEngineLauncher", "SSHLauncher"};
  if (auto v = get<std::vector<std::string>>(config, ssh_engine_classes, "remote_engine_cmd")) {
    s.remote_engine_cmd = *v;
  } else if (auto w = get<std::vector<std::string>>(config, ssh_engine_classes, "engine_cmd")) {
    s.remote_engine_cmd = *w;
  }
  s.remote_engine_args = get_or<std::vector<std::string>>(
      config, {"SSHEngineSetLauncher", "SSHEngineLauncher", "SSHLauncher", "EngineLauncher"},
      "engine_args", {});
  s.remote_profile_dir = get_or<std::string>(config, ssh_engine_classes, "remote_profile_dir", "");
  s.remote_python = get_or<std::string>(config, ssh_engine_classes, "remote_python", "python3");
  s.strict_host_key_checking =
      get_or<bool>(config, ssh_engine_classes, "strict_host_key_checking", true);
  s.identity_file = get_or<std::string>(config, ssh_engine_classes, "identity_file", "");
  s.ssh_timeout = get_or<double>(config, ssh_engine_classes, "ssh_timeout", 10.0);
  if (s.remote_profile_dir.empty()) {
    const char* home = std::getenv("HOME");
    s.remote_profile_dir = strip_home(profile_dir.string(), home != nullptr ? home : "");
  }

  // Problems in the settings of a launcher that is not used are not worth a word (the same
  // SSHLauncher section configures several).
  std::vector<std::string> unused;
  const std::initializer_list<std::string_view> ctl = {"SSHControllerLauncher", "SSHLauncher"};
  const bool ssh_controller = s.controller_launcher == "ssh";
  s.ssh_controller.host = read_ssh_host(config, ctl, "SSHControllerLauncher", profile_dir,
                                        ssh_controller, ssh_controller ? s.warnings : unused);
  s.ssh_controller.controller_cmd = get_or<std::vector<std::string>>(
      config, {"SSHControllerLauncher"}, "controller_cmd", {"ipcontroller"});
  s.ssh_controller.to_fetch = read_pairs(config, ctl, "to_fetch", "(remote, local)");
  s.ssh_controller.to_send =
      read_pairs(config, ctl, "to_send", "(local, remote)").value_or(FilePairs{});
  if (s.controller_launcher == "ssh") {
    // ControllerLauncher config applies to its SSH subclass, as traitlets does.
    s.controller_args = get_or<std::vector<std::string>>(
        config, {"SSHControllerLauncher", "ControllerLauncher"}, "controller_args", {});
    s.connection_info_timeout = get_or<double>(
        config, {"SSHControllerLauncher", "ControllerLauncher"}, "connection_info_timeout", 60.0);
    if (s.ssh_controller.host.hostname.empty()) {
      throw ipp::config::ConfigError(
          "c.Cluster.controller_launcher_class = 'ssh' needs the controller host: set "
          "c.SSHControllerLauncher.hostname (or .location = 'user@host')");
    }
  }

  const std::initializer_list<std::string_view> proxy = {"SSHProxyEngineSetLauncher",
                                                         "SSHLauncher"};
  const bool ssh_proxy = s.engine_launcher == "sshproxy";
  s.ssh_proxy.host = read_ssh_host(config, proxy, "SSHProxyEngineSetLauncher", profile_dir,
                                   ssh_proxy, ssh_proxy ? s.warnings : unused);
  s.ssh_proxy.ipcluster_cmd = get_or<std::vector<std::string>>(
      config, {"SSHProxyEngineSetLauncher"}, "ipcluster_cmd", {"ipcluster"});
  s.ssh_proxy.ipcluster_args =
      get_or<std::vector<std::string>>(config, {"SSHProxyEngineSetLauncher"}, "ipcluster_args", {});
  s.ssh_proxy.to_send = read_pairs(config, proxy, "to_send", "(local, remote)");
  if (s.engine_launcher == "sshproxy" && s.ssh_proxy.host.hostname.empty()) {
    throw ipp::config::ConfigError(
        "c.Cluster.engine_launcher_class = 'sshproxy' needs the engine host: set "
        "c.SSHProxyEngineSetLauncher.hostname (or .location = 'user@host')");
  }
  resolve_hpc_settings(config, s);
  // --adapt with a batch system: a job per engine unless told otherwise, so that a retired
  // engine's job ends with it
  if (s.adapt && is_batch_class(s.engine_launcher) && s.batch_engines.engines_per_job == 0) {
    s.batch_engines.engines_per_job = 1;
  }
  return s;
}

}  // namespace ipp::cluster
