#pragma once
// Single-process SSH launchers: the controller on another host (SSHControllerLauncher) and
// `ipcluster engines` on another host (SSHProxyEngineSetLauncher). Plain functions over an
// SshConnection that build the remote command lines, start one detached process, and move the
// connection files with SFTP; the ipcluster main thread calls them and keeps the state.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/ssh.hpp>
#include <ipp/util/result.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ipp::cluster {

// Everything the remote command line is made of.
struct RemoteProcessParams {
  std::vector<std::pair<std::string, std::string>> env;  // NAME=value, in this order
  std::vector<std::string> argv;
  std::string output_file;  // remote; its directory is created
};

// `<rpd>/log/<name>-<time with 4 decimals>.out` as SSHLauncher.remote_output_file names it:
// name is ipengine if the program mentions "engine", ipcontroller for "controller", else the
// program's base name.
std::string remote_output_file(const std::string& remote_profile_dir,
                               const std::vector<std::string>& program, double now);

// controller_cmd --profile-dir=<rpd> [--cluster-id=ID] [--ip=..] [--location=..]
//   controller_args cluster_controller_args (what the local launcher runs, with the remote
// profile).
std::vector<std::string> remote_controller_argv(const ClusterSettings& s);

// ipcluster_cmd engines -n N --profile-dir <rpd> --cluster-id <id> ipcluster_args (the options
// Python's SSHProxyEngineSetLauncher passes, so a remote Python ipcluster works too).
std::vector<std::string> remote_proxy_argv(const ClusterSettings& s, int n);

// The shell line: create the output directory and the profile's security/ (0700) and log/,
// then `NAME=v ... nohup argv > out 2>&1 < /dev/null &`, printing "__remote_pid=<pid>__".
std::string detached_command(const RemoteProcessParams& p, const std::string& remote_profile_dir);

// Runs detached_command; the remote pid, or an error naming the host and the shell's output.
Result<long> start_detached(SshConnection& conn, const RemoteProcessParams& p,
                            const std::string& remote_profile_dir, const std::string& what);

// Default file movement: the two connection files between the local profile's security/ and
// the remote profile's. `fetch` gives (remote, local) pairs, otherwise (local, remote).
FilePairs connection_file_pairs(const std::filesystem::path& client_file,
                                const std::filesystem::path& engine_file,
                                const std::string& remote_profile_dir, bool fetch);

// Sends each (local, remote) pair with mode 0600 (parents 0700); stops at the first error.
Status send_files(SshConnection& conn, const FilePairs& pairs);

}  // namespace ipp::cluster
