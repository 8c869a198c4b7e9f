#include <ipp/cluster/app.hpp>
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
                                     "': unknown launcher (use 'local' or 'ssh')");
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
  for (const auto& [name, value] : {std::pair{"engine", s.engine_launcher},
                                    std::pair{"controller", s.controller_launcher}}) {
    if (value != "local" && value != "ssh") {
      throw ipp::config::ConfigError(std::string("c.Cluster.") + name + "_launcher_class = '" +
                                     value + "': this ipcluster supports 'local' and 'ssh'");
    }
  }
  if (s.controller_launcher == "ssh") {
    throw ipp::config::ConfigError(
        "c.Cluster.controller_launcher_class = 'ssh': the SSH controller launcher is not "
        "implemented; run ipcluster on the controller host");
  }
  s.controller_ip = o.ip ? *o.ip : get_or<std::string>(config, {"Cluster"}, "controller_ip", "");
  s.controller_location =
      o.location ? *o.location : get_or<std::string>(config, {"Cluster"}, "controller_location", "");
  s.cluster_controller_args =
      get_or<std::vector<std::string>>(config, {"Cluster"}, "controller_args", {});
  s.cluster_controller_args.insert(s.cluster_controller_args.end(), o.extra_args.begin(),
                                   o.extra_args.end());
  s.delay = o.delay ? *o.delay : get_or<double>(config, {"Cluster"}, "delay", 1.0);
  s.early_shutdown =
      get_or<double>(config, {"IPClusterStart", "IPClusterEngines"}, "early_shutdown", 30.0);
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
  return s;
}

}  // namespace ipp::cluster
