// `ipcluster start` and `ipcluster engines`: checks, --daemonize, then the ClusterRunner.
#include "commands/common.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include "runner.hpp"

#include <unistd.h>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

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
    log->critical(
        "Cluster is already running (ipcluster pid {}, {}). use `ipcluster stop` to stop "
        "the cluster.",
        other, pidf.string());
    return exit_code::already_started;
  }

  DaemonNotifier notifier;
  if (settings.daemonize) {
    auto logfile = pdir.log() /
                   ("ipcluster-" + settings.cluster_id + "-" + std::to_string(::getpid()) + ".log");
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

}  // namespace ipp::cluster
