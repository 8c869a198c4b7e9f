#pragma once
// The launcher life cycle of `ipcluster`, in the spirit of Python's BaseLauncher: start, poll,
// signal, stop. A launcher owns what it started (local processes, an mpiexec, batch jobs) and
// describes it in the cluster file's state dict; the ClusterRunner owns the launchers, calls
// poll() on every tick and turns the events into log lines, progress and shutdown decisions.
//
// Launchers are created, used and destroyed on the ipcluster main thread. start() and stop() may
// run short commands synchronously (a submit command, a delete command) with a timeout.
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/util/clock.hpp>

#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ipp::cluster {

struct ClusterSettings;

// A launch that could not happen; the message names the command and what it said.
class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LauncherEvent {
  enum class Kind {
    Info,  // a state change worth a line ("Slurm job 12 is RUNNING")
    Warning,
    Stopped,  // `count` engines (or the controller) are gone; `message` says how
  };
  Kind kind = Kind::Info;
  int count = 0;
  std::string message;
  bool failed = false;  // Stopped: by a failure (non-zero exit, cancelled or failed job)
  double uptime_s = -1;  // Stopped, one engine: how long it ran (negative: unknown)
};

// What every launcher is given: where the profile is and how the cluster is named.
struct LaunchContext {
  std::string profile_dir;
  std::string cluster_id;
  std::string set_id;                              // engine sets: the cluster file's set id
  std::map<std::string, std::string> environment;  // c.*Launcher.environment
  std::shared_ptr<spdlog::logger> log;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Python's `<class 'ipyparallel.cluster.launcher.X'>` name.
  virtual std::string class_name() const = 0;
  // Called on every tick of the runner; cheap unless something is due.
  virtual std::vector<LauncherEvent> poll(TimePoint now) = 0;
  virtual void signal(int signo) = 0;
  // Stops everything still running; returns when it is gone (or could not be stopped, logged).
  virtual void stop() = 0;
  // A short state for progress lines ("job 1234 RUNNING"); "" when there is nothing to add.
  virtual std::string status() const { return ""; }
  // Where its output goes, when that is one file ("" otherwise).
  virtual std::string output_location() const { return ""; }
  // Waiting in a batch queue (submitted, not yet running): start-up clocks do not run meanwhile.
  virtual bool queued() const { return false; }
  // The last lines of what was started wrote, labelled, for failure messages.
  virtual std::string output_tail(std::size_t lines) = 0;
  // The cluster file's state dict for this launcher.
  virtual LauncherState state() const = 0;
};

class EngineSetLauncher : public Launcher {
 public:
  // Starts `n` engines. Throws LaunchError when nothing could be started.
  virtual void start(int n) = 0;
  // Engines believed to be running (or queued to run).
  virtual int running() const = 0;
  // Starts `n` more engines like the first ones (replacements for dead ones); false when this
  // launcher cannot add engines to a running set.
  virtual bool start_more(int /*n*/) { return false; }
  // The most engines this set can run at once (the SSH hosts' slots), or -1 for no limit.
  virtual int capacity() const { return -1; }
  // Adaptive growth: true when more engines come as new sets of their own (batch systems: a
  // job each) rather than through start_more on this set.
  virtual bool grows_in_new_sets() const { return false; }
  // Per-engine entries for the cluster file (local engine sets); empty for single launchers.
  virtual std::vector<std::pair<std::string, LauncherState>> engine_states() const { return {}; }
};

class ControllerLauncher : public Launcher {
 public:
  // Throws LaunchError when the controller cannot be started.
  virtual void start() = 0;
  virtual bool running() const = 0;
  // The controller answers on its registration port: checks may slow down. Until then a
  // Stopped event carries the whole failure message for the user (exit status, log tail).
  virtual void ready() = 0;
  // What to tell the user when it is not ready after `seconds`.
  virtual std::string timeout_message(double seconds) = 0;
};

// The engine-set launchers for s.engine_launcher ("local", "ssh", "sshproxy", "mpi", "slurm",
// ...): one per job when a batch launcher splits the engines over several jobs
// (engines_per_job), else one.
// `new_set_id` gives each launcher its set id; `counts` receives each launcher's engine count.
// `jobs_before`: batch jobs made earlier by this ipcluster (each job's script has its own name).
std::vector<std::unique_ptr<EngineSetLauncher>> make_engine_launchers(
    const ClusterSettings& s, const LaunchContext& ctx, int n,
    const std::function<std::string()>& new_set_id, std::vector<int>& counts,
    int jobs_before = 0);

// The controller launcher for s.controller_launcher.
std::unique_ptr<ControllerLauncher> make_controller_launcher(const ClusterSettings& s,
                                                             const LaunchContext& ctx);

}  // namespace ipp::cluster
