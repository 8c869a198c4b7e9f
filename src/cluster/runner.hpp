#pragma once
// ClusterRunner: one `ipcluster start` (controller + engines) or `ipcluster engines` run.
//
// Owned by the main thread, which runs its Reactor (pidfds of the children, a 250 ms tick,
// SIGINT/SIGTERM/SIGUSR1/SIGUSR2 through a signalfd, the registration probe's socket). Lives
// until the cluster has stopped; the cluster file mirrors its state the whole time.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/engines_spec.hpp>
#include <ipp/cluster/launcher.hpp>
#include <ipp/cluster/registration_probe.hpp>
#include <ipp/cluster/ssh.hpp>
#include <ipp/cluster/startup_monitor.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/net/reactor.hpp>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

class ClusterRunner {
 public:
  ClusterRunner(ClusterSettings settings, ipp::config::ProfileDir profile, bool with_controller,
                DaemonNotifier notifier);
  // Runs until the cluster stops; returns the exit status.
  int run();

 private:
  struct LocalProc {
    std::string key;  // "0", "1", ... for engines
    int pid = -1;
    int pidfd = -1;
    std::string output_file;
    bool running = false;
    std::optional<int> exit_code;
  };
  struct RemoteHost {
    HostSpec spec;
    SshTarget target;
    std::unique_ptr<SshConnection> conn;
    std::vector<std::string> keys;  // engine keys "<host key>/<i>"
    std::vector<long> pids;
    std::vector<std::string> outputs;
    std::vector<bool> running;
    bool poll_warned = false;
    int engines_per_pid = 1;  // n for the proxy's remote `ipcluster engines`
    std::chrono::seconds kill_grace{5};
  };
  // The controller on another host (controller_launcher == "ssh").
  struct RemoteController {
    SshTarget target;
    std::unique_ptr<SshConnection> conn;
    long pid = -1;
    std::string output_file;  // remote
    bool running = false;
    FilePairs fetch;                         // (remote, local)
    std::map<std::string, std::string> got;  // local path -> contents written
    TimePoint last_check{};
    bool warned = false;
  };

  bool start_controller();
  bool start_ssh_controller();
  // While starting: is the remote controller alive, and fetch its connection files. False when
  // the start failed (already reported).
  bool check_remote_controller(TimePoint now);
  SshConnection* remote_controller_conn();
  std::string remote_controller_failure(const std::string& what);
  void stop_remote_controller();
  void start_proxy_engines(EngineSetRecord& set);
  void tick();
  void on_controller_ready();
  bool start_launched_controller();
  void poll_controller_launcher(TimePoint now);
  void start_engines();
  void start_launched_engines();
  void poll_engine_launchers(TimePoint now);
  void on_launcher_stopped(const LauncherEvent& e);
  std::string launcher_status() const;
  void start_ssh_engines(EngineSetRecord& set);
  void watch(LocalProc& p, bool is_controller);
  void on_local_exit(LocalProc& p, bool is_controller);
  void poll_remote();
  void handle(const std::vector<MonitorAction>& actions);
  std::string engines_output();
  void stop_all(const std::string& why);
  void fail_start(const std::string& message);
  void write_record();
  void update_engine_states();
  std::string new_set_id(const std::vector<std::string>& also_taken = {}) const;
  std::string controller_failure_message();

  ClusterSettings s_;
  ipp::config::ProfileDir profile_;
  bool with_controller_;
  DaemonNotifier notifier_;
  std::shared_ptr<spdlog::logger> log_;
  ipp::net::Reactor reactor_{"ipcluster"};
  zmq::context_t context_{1};
  ClusterRecord record_;
  std::filesystem::path cluster_file_;
  std::optional<LocalProc> controller_;
  std::optional<RemoteController> remote_controller_;
  // Controllers and engine sets behind the Launcher interface (local engines, MPI, batch);
  // the SSH launchers are driven by the runner itself (hosts_, remote_controller_).
  std::unique_ptr<ControllerLauncher> ctl_launcher_;
  struct LaunchedSet {
    std::string id;  // the cluster file's set id
    std::unique_ptr<EngineSetLauncher> launcher;
  };
  std::vector<LaunchedSet> launched_;
  bool any_registered_ = false;
  TimePoint last_progress_{};
  std::vector<RemoteHost> hosts_;
  std::vector<std::string> engine_start_errors_;  // per host, for the start failure message
  std::unique_ptr<RegistrationProbe> probe_;
  std::string probe_client_text_;
  std::unique_ptr<StartupMonitor> monitor_;
  TimePoint controller_started_{};
  TimePoint last_request_{};
  TimePoint last_remote_poll_{};
  bool controller_ready_ = false;
  bool engines_started_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace ipp::cluster
