// `ipcluster list`: every cluster file of the profiles, as a table or JSON.
#include "commands/common.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include <algorithm>
#include <iostream>
#include <map>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

namespace {

std::string pad(std::string s, std::size_t width, bool right = false) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

std::string launcher_display(const std::string& cls) {
  static const std::map<std::string, std::string> names = {
      {"local", "Local"},       {"ssh", "SSH"},           {"sshproxy", "SSHProxy"}, {"mpi", "MPI"},
      {"slurm", "Slurm"},       {"pbs", "PBS"},           {"sge", "SGE"},           {"lsf", "LSF"},
      {"htcondor", "HTCondor"}, {"winhpc", "WindowsHPC"}, {"batch", "Batch"}};
  auto it = names.find(cls);
  if (it != names.end()) return it->second;
  auto dot = cls.rfind('.');
  std::string base = dot == std::string::npos ? cls : cls.substr(dot + 1);
  auto suffix = base.find("EngineSetLauncher");
  return suffix == std::string::npos ? base : base.substr(0, suffix);
}

}  // namespace

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
      std::string profile_name =
          p.parent_path() == ipdir && p.filename().string().rfind("profile_", 0) == 0
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

}  // namespace ipp::cluster
