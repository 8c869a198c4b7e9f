#pragma once
// The ipcluster subcommands. run() is everything main() does after parsing the command line;
// it returns the process exit status (options.hpp exit_code).
#include <ipp/cluster/adaptive_policy.hpp>
#include <ipp/cluster/options.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ipp/config/config_file.hpp>

namespace ipp::cluster {

// c.SSHLauncher.to_send / to_fetch: (local, remote) or (remote, local) path pairs.
using FilePairs = std::vector<std::pair<std::string, std::string>>;

// Where and how to reach one remote host for a single-host SSH launcher (SSHControllerLauncher,
// SSHProxyEngineSetLauncher): Python's hostname/user/location traits plus our libssh options.
struct SshHostSettings {
  std::string hostname;
  std::string user;
  int port = 0;                    // from ssh_args ["-p", N]; 0: ~/.ssh/config, then 22
  std::string remote_profile_dir;  // empty: the local one with $HOME/ stripped
  std::string remote_python = "python3";
  bool strict_host_key_checking = true;
  std::string identity_file;
  double ssh_timeout = 10.0;
};

// c.SSHControllerLauncher.*: the controller runs on `host`, its connection files are fetched.
struct SshControllerSettings {
  SshHostSettings host;
  std::vector<std::string> controller_cmd{"ipcontroller"};  // on the remote PATH
  std::optional<FilePairs> to_fetch;  // nullopt: both connection files into local security/
  FilePairs to_send;                  // sent before the controller starts
};

// c.SSHProxyEngineSetLauncher.*: `ipcluster engines -n N` runs on `host`.
struct SshProxySettings {
  SshHostSettings host;
  std::vector<std::string> ipcluster_cmd{"ipcluster"};  // on the remote PATH
  std::vector<std::string> ipcluster_args;
  std::optional<FilePairs> to_send;  // nullopt: both connection files into the remote security/
};

// c.MPILauncher.* for MPI engine sets and controllers.
struct MpiSettings {
  std::vector<std::string> mpi_cmd{"mpiexec"};
  std::vector<std::string> mpi_args;
};

// c.<System>{EngineSet,Controller}Launcher.* for the batch launchers (batch_system.hpp), with
// Python's defaults for the system filled in.
struct BatchSettings {
  std::string system;  // "slurm", "pbs", "sge", "lsf", "htcondor", "batch"
  std::string config_class;  // "SlurmEngineSetLauncher": names settings in messages
  std::vector<std::string> submit_command;
  std::vector<std::string> delete_command;
  std::vector<std::string> signal_command;
  std::vector<std::string> status_command;  // ours: how the job's state is watched
  std::string job_id_regexp;
  int job_id_regexp_group = 0;
  std::string batch_template;  // batch_template, else the contents of batch_template_file
  std::string batch_file_name;
  std::string queue;
  std::string account, qos, timelimit, options;  // Slurm
  ipp::config::ConfigTree user_namespace = ipp::config::ConfigTree::object();
  std::string output_file;  // "" = <profile>/log/<identifier>.log
  int engines_per_job = 0;  // ours: split the engines over jobs of at most this many; 0 = one job
  double status_interval = 2.0;  // ours: seconds between status checks while engines start
  double submit_timeout = 60.0;  // ours: the longest a submit/delete/status command may take
};

// Settings for starting and stopping a cluster, resolved from ipcluster_config.{py,json}, the
// command line and the defaults of Python ipyparallel 9.1 (cluster-tooling.md §2.4, §5).
struct ClusterSettings {
  // Adaptive engines (--adapt, c.Cluster.adapt_*; adaptive_policy.hpp): absent when off.
  std::optional<AdaptiveSettings> adapt;
  std::string cluster_id;
  int n = 0;  // engines for local sets
  bool n_given = false;
  std::string engine_launcher = "local";
  std::string controller_launcher = "local";
  std::string controller_ip;
  std::string controller_location;
  std::vector<std::string> cluster_controller_args;  // Cluster.controller_args + `-- args`
  double delay = 1.0;
  double early_shutdown = 30.0;
  // Engine restarts (c.Cluster.engine_restart_*; see engine_restarts.hpp). 0 = off.
  int engine_restart_limit = 0;
  double engine_restart_delay = 1.0;
  double engine_restart_reset = 60.0;
  // Controller restarts (c.Cluster.controller_restart_*), same rules; the new controller gets
  // --restore so that running engines keep their ids. 0 = off: ipcluster stops with its
  // controller, as Python's does.
  int controller_restart_limit = 0;
  double controller_restart_delay = 1.0;
  double controller_restart_reset = 60.0;
  bool daemonize = false;
  double connection_info_timeout = 60.0;
  std::vector<std::string> controller_cmd;
  std::vector<std::string> controller_args;  // ControllerLauncher.controller_args
  std::vector<std::string> engine_cmd;
  std::vector<std::string> engine_args;
  double engine_delay = 0.1;
  std::map<std::string, std::string> environment;
  // SSH engines
  ipp::config::ConfigTree ssh_engines = ipp::config::ConfigTree::object();
  std::vector<std::string> remote_engine_cmd{"ipengine"};
  std::vector<std::string> remote_engine_args;
  std::string remote_profile_dir;  // empty: the local one with $HOME/ stripped
  std::string remote_python = "python3";
  bool strict_host_key_checking = true;
  std::string identity_file;
  double ssh_timeout = 10.0;
  // SSH controller / proxy engines (controller_launcher == "ssh", engine_launcher == "sshproxy")
  SshControllerSettings ssh_controller;
  SshProxySettings ssh_proxy;
  // MPI and batch launchers (engine_launcher / controller_launcher is "mpi" or a batch system)
  MpiSettings mpi_engines;
  MpiSettings mpi_controller;
  BatchSettings batch_engines;
  BatchSettings batch_controller;
  // Things to tell the user once logging is up (ignored settings).
  std::vector<std::string> warnings;
};

// Reads the settings; throws ConfigError naming the file and key.
ClusterSettings resolve_settings(const ipp::config::LoadedConfig& config,
                                 const ClusterOptions& options,
                                 const std::filesystem::path& profile_dir);

// The MPI and batch parts of the settings, for the launchers s.engine_launcher and
// s.controller_launcher name (called by resolve_settings).
void resolve_hpc_settings(const ipp::config::LoadedConfig& config, ClusterSettings& s);

// The local profile dir as the remote side sees it: $HOME/ stripped (SSHLauncher._strip_home).
std::string strip_home(const std::string& path, const std::string& home);

// Where `ipcluster profile create` finds the commented templates: $IPP_PROFILE_TEMPLATES,
// <bin>/../share/ipp/profiles, then the source tree's profiles/.
std::filesystem::path profile_templates_dir();

int run(ClusterOptions options);

}  // namespace ipp::cluster
