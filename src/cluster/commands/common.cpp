// Helpers the subcommands share (commands/common.hpp).
#include "commands/common.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include "launchers/recorded.hpp"
#include "launchers/ssh_engines.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>

namespace ipp::cluster {

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
  auto config =
      ipp::config::load_app_config(pdir.location(), "ipcluster", ipp::config::system_config_dirs());
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

Liveness probe_record(const ClusterRecord& r, const ClusterSettings& s,
                      std::optional<double> timeout_cap) {
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
        case Alive::yes:
          out.engines_alive += set.set.n;
          break;
        case Alive::unknown:
          out.engines_unknown += set.set.n;
          break;
        case Alive::no:
          break;
      }
      continue;
    }
    if (r.engine_class == "sshproxy") {
      if (set.set.state != "running" || set.set.pid <= 0) continue;
      switch (remote_state(set.set)) {
        case Alive::yes:
          out.engines_alive += set.set.n;
          break;
        case Alive::unknown:
          out.engines_unknown += set.set.n;
          break;
        case Alive::no:
          break;
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

bool record_alive(const ClusterRecord& r, const ClusterSettings& s) {
  return probe_record(r, s).maybe_running();
}

}  // namespace ipp::cluster
