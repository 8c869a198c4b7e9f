#pragma once
// The cluster file, security/cluster-<id>.json: what Python's Cluster.to_dict() writes and
// Cluster.from_file(), `ipcluster list` and `ipcluster stop` read (cluster-tooling.md §4.2, §4.5).
//
// ClusterRecord is a plain value: the running ipcluster owns one and rewrites the file after every
// change; `ipcluster list`/`stop` build one from whatever is on disk, including files that Python
// tools rewrote (unknown keys are ignored, missing ones take Python's defaults).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

// One launcher's state dict (a controller, an engine, or an engine set's own fields). Which keys
// are written depends on the launcher class ("local", "ssh", "mpi", "slurm", ...), as
// traitlets' to_dict does.
struct LauncherState {
  std::string cluster_id;
  std::string profile_dir;
  std::string state = "running";  // before | running | after
  long pid = -1;                   // local pid, or the remote pid for ssh engines
  int n = 1;
  std::string output_file;
  // ssh launchers only
  std::string hostname;
  std::string user;
  std::string remote_output_file;
  std::string remote_profile_dir;
  std::string remote_python = "python3";
  std::vector<std::string> ssh_cmd{"ssh"};
  std::vector<std::string> ssh_args;
  std::vector<std::string> scp_cmd{"scp"};
  std::vector<std::string> scp_args;
  // batch launchers only (PBS, SGE, Slurm, LSF, HTCondor, batch)
  std::string job_id;
  std::string batch_file_name;
  std::string batch_template;
  std::string queue;
  nlohmann::json batch_namespace = nlohmann::json::object();
};

// Launcher classes whose engine set is one launcher (no per-engine entries): the batch systems,
// MPI and the SSH proxy.
bool is_batch_class(const std::string& cls);
bool is_single_launcher_set(const std::string& cls);

struct EngineSetRecord {
  std::string id;  // str(int(time.time())), "-1", "-2" on collision
  LauncherState set;
  // Per-engine states keyed "0", "1", ... (local) or "<host key>/<i>" (ssh), in start order.
  std::vector<std::pair<std::string, LauncherState>> engines;
};

struct ClusterRecord {
  std::string cluster_id;
  std::string profile_dir;  // absolute
  std::vector<std::string> controller_args;
  std::string controller_ip;
  std::string controller_location;
  double delay = 1.0;
  std::optional<int> n;

  std::string controller_class = "local";
  std::optional<LauncherState> controller;
  std::string engine_class = "local";
  std::vector<EngineSetRecord> sets;

  // True while anything recorded is in state "running" (Cluster._is_running).
  bool any_running() const;
  int engine_count() const;  // sum of live engines over sets

  // The JSON structure of §4.2 with Python's key order.
  nlohmann::ordered_json to_json() const;
  // Tolerant reader: throws std::runtime_error for a file Python could not load either (not an
  // object, no "cluster", no cluster_id/profile_dir, an engine set without "engines").
  static ClusterRecord from_json(const nlohmann::json& j);
};

// json.dumps() with Python's default separators (", ", ": ") and ensure_ascii, on one line.
std::string python_json_dumps(const nlohmann::ordered_json& j);

// Writes atomically (temp file + rename), mode 0644 as Python leaves it.
void write_cluster_file(const std::filesystem::path& path, const ClusterRecord& record);
// nullopt when the file does not exist; throws std::runtime_error when it does not parse.
std::optional<ClusterRecord> read_cluster_file(const std::filesystem::path& path);

// Every security/cluster-*.json under a profile, sorted by name.
std::vector<std::filesystem::path> cluster_files(const std::filesystem::path& profile_dir);
// "cluster-abc.json" -> "abc"
std::string cluster_id_from_file(const std::filesystem::path& path);

}  // namespace ipp::cluster
