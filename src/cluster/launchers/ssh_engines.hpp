#pragma once
// Engines on other hosts over SSH (SSHEngineSetLauncher): copy the engine connection file into
// the remote profile, start `n` engines detached with nohup, record their remote pids, poll and
// kill them. Plain functions over an SshConnection; the ipcluster main thread calls them.
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/engines_spec.hpp>
#include <ipp/cluster/ssh.hpp>
#include <ipp/util/result.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace ipp::cluster {

struct RemoteEngineParams {
  std::string cluster_id;
  std::string remote_profile_dir;
  std::vector<std::string> engine_cmd;
  std::vector<std::string> engine_args;
  std::string engine_file_name;   // "ipcontroller[-<id>]-engine.json"
  std::string engine_file_json;   // its contents (copied as a 0600 file, never on a command line)
  std::map<std::string, std::string> environment;
  std::string set_id;
};

// The shell line that starts one detached engine and prints "__remote_pid=<pid>__".
std::string remote_start_command(const RemoteEngineParams& p, const std::string& output_file);

// Copies the engine file (0600, directories 0700) and starts `count` engines; returns their
// pids in order. Stops at the first failure, returning the error (host and reason).
Result<std::vector<long>> start_remote_engines(SshConnection& conn, const RemoteEngineParams& p,
                                               const std::vector<std::string>& output_files);

// Which of `pids` still exist on the host.
Result<std::set<long>> remote_alive(SshConnection& conn, const std::vector<long>& pids);
// SIGTERM, up to `grace` for the processes to go, then SIGKILL.
Status remote_kill(SshConnection& conn, const std::vector<long>& pids,
                   std::chrono::seconds grace = std::chrono::seconds(5));
// The last lines of a remote file ("" if missing).
std::string remote_tail(SshConnection& conn, const std::string& path, int lines = 50);

// The SshTarget for an engine record / host spec.
SshTarget target_for(const std::string& user, const std::string& host, int port,
                     bool strict_host_key_checking, const std::string& identity_file,
                     double timeout_s);
// Port from Python-style ssh_args ["-p", "2222"] (0 if absent).
int port_from_ssh_args(const std::vector<std::string>& ssh_args);

}  // namespace ipp::cluster
