// `ipcluster stop`: the ipcluster that owns the cluster stops it; whatever its cluster file
// still records is stopped here.
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

#include <signal.h>

#include <chrono>
#include <map>
#include <thread>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

namespace {

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

}  // namespace

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

}  // namespace ipp::cluster
