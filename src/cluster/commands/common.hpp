#pragma once
// What the ipcluster subcommands (one file each in this folder) share: their logger names,
// profile and config loading, pid files, and how alive the processes of a cluster file are.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/options.hpp>
#include <ipp/config/config_file.hpp>
#include <ipp/config/profile_dir.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

// "IPClusterStart", "IPClusterStop", ...: the app names Python's logs use.
std::string app_name(const std::string& sub);
ipp::config::ProfileOptions profile_options(const ClusterOptions& o);
// ipcluster_config.{py,json}, --config, the command line's --Class.trait=value, legacy names.
ipp::config::LoadedConfig load_config(const ipp::config::ProfileDir& pdir, const ClusterOptions& o);
std::filesystem::path pid_file(const ipp::config::ProfileDir& pdir, const std::string& cluster_id);
// A pid file's process, if it still is an ipcluster (pids get reused); -1 otherwise.
int live_ipcluster(const std::filesystem::path& pidf);

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
                      std::optional<double> timeout_cap = std::nullopt);
// Whether anything a cluster file records may still run (unknown counts as running).
bool record_alive(const ClusterRecord& r, const ClusterSettings& s);

int cmd_start(const ClusterOptions& o, bool with_controller);  // start, engines
int cmd_stop(const ClusterOptions& o);
int cmd_list(const ClusterOptions& o);
int cmd_status(const ClusterOptions& o);
int cmd_clean(const ClusterOptions& o);
int cmd_profile_create(const ClusterOptions& o);

}  // namespace ipp::cluster
