#include "recorded.hpp"

#include <ipp/cluster/batch_system.hpp>
#include <ipp/cluster/batch_template.hpp>
#include <ipp/cluster/process.hpp>

#include <signal.h>

namespace ipp::cluster {

namespace {

// The configured commands when the profile's config names this system, else Python's defaults.
BatchSystem commands_for(const std::string& cls, bool engines, const ClusterSettings& s) {
  BatchSystem sys = *batch_system(cls);
  const BatchSettings& b = engines ? s.batch_engines : s.batch_controller;
  if (b.system == cls) {
    sys.delete_command = b.delete_command;
    sys.status_command = b.status_command;
  }
  return sys;
}

}  // namespace

std::optional<bool> recorded_alive(const std::string& cls, const LauncherState& st, bool engines,
                                   const ClusterSettings& s) {
  if (st.state != "running") return false;
  if (cls == "mpi") return st.pid > 0 && pid_alive(static_cast<int>(st.pid));
  if (!is_batch_class(cls) || st.job_id.empty()) return std::nullopt;
  BatchSystem sys = commands_for(cls, engines, s);
  if (sys.status_command.empty() || sys.status_command[0].empty()) return std::nullopt;
  auto argv = status_argv(sys, st.job_id);
  auto r = run_command(argv, {}, "", std::chrono::seconds(30));
  if (r.exit_code == -1000 || r.timed_out) return std::nullopt;
  auto status = parse_job_status(sys, st.job_id, r.out + r.err, r.exit_code);
  switch (status.phase) {
    case JobStatus::Phase::Pending:
    case JobStatus::Phase::Running:
      return true;
    case JobStatus::Phase::Finished:
    case JobStatus::Phase::Failed:
      return false;
    case JobStatus::Phase::Unknown:
      break;
  }
  return std::nullopt;
}

void stop_recorded(const std::string& cls, const LauncherState& st, bool engines,
                   const ClusterSettings& s, const std::shared_ptr<spdlog::logger>& log) {
  if (st.state != "running") return;
  if (cls == "mpi") {
    if (st.pid <= 0) return;
    log->info("Stopping mpiexec (pid {})", st.pid);
    terminate(static_cast<int>(st.pid));
    ::kill(-static_cast<int>(st.pid), SIGKILL);
    return;
  }
  if (!is_batch_class(cls) || st.job_id.empty()) return;
  BatchSystem sys = commands_for(cls, engines, s);
  auto argv = sys.delete_command;
  argv.push_back(st.job_id);
  log->info("Deleting {} job {}: {}", sys.display, st.job_id, shlex_join(argv));
  auto r = run_command(argv, {}, "", std::chrono::seconds(60));
  if (r.exit_code != 0) {
    log->error("Could not delete {} job {} ({}): {}", sys.display, st.job_id,
               r.exit_code == -1000 ? "cannot run " + argv[0] : describe_exit(r.exit_code),
               r.err + r.out);
  }
}

}  // namespace ipp::cluster
