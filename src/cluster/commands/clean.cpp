// `ipcluster clean`: remove the logs and the cluster files of stopped clusters.
#include "commands/common.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include <iostream>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

int cmd_clean(const ClusterOptions& o) {
  auto log = ipp::log::get("IPClusterClean");
  std::vector<ProfileDir> pdirs;
  auto popts = profile_options(o);
  std::vector<fs::path> locations;
  if (o.all) {
    std::error_code ec;
    for (const auto& e :
         fs::directory_iterator(ipp::config::locate_ipython_dir(popts.ipython_dir), ec)) {
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
            log->critical(
                "Cluster {} is still running. Use --force to remove its files anyway, "
                "or `ipcluster stop` first.",
                cluster_id_from_file(f));
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

}  // namespace ipp::cluster
