#include "launchers/ssh_engines.hpp"

#include <regex>
#include <sstream>

namespace ipp::cluster {

namespace {

std::string join_pids(const std::vector<long>& pids) {
  std::string out;
  for (long p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

}  // namespace

std::string remote_start_command(const RemoteEngineParams& p, const std::string& output_file) {
  // The connection (with the key) goes only in the 0600 file copied first, which the engine
  // finds from --profile-dir and --cluster-id: a command line is visible to every user of the
  // remote host while its shell runs.
  std::string env = "IPP_PROFILE_DIR=" + shell_quote(p.remote_profile_dir) +
                    " IPP_CLUSTER_ID=" + shell_quote(p.cluster_id);
  for (const auto& [k, v] : p.environment) env += " " + k + "=" + shell_quote(v);
  std::string cmd;
  for (const auto& a : p.engine_cmd) cmd += shell_quote(a) + " ";
  // ipyparallel 7.x engines find the profile only through the command line.
  cmd += "--profile-dir=" + shell_quote(p.remote_profile_dir);
  if (!p.cluster_id.empty()) cmd += " --cluster-id=" + shell_quote(p.cluster_id);
  for (const auto& a : p.engine_args) cmd += " " + shell_quote(a);
  auto log_dir = output_file.substr(0, output_file.rfind('/'));
  // `mkdir ... && cmd &` would background the whole list in a subshell that keeps the channel
  // open and whose pid $! would be; hence `|| exit`.
  return "mkdir -p " + shell_quote(log_dir) + " || exit 1; " + env + " nohup " + cmd + " > " +
         shell_quote(output_file) + " 2>&1 < /dev/null & echo __remote_pid=$!__";
}

Result<std::vector<long>> start_remote_engines(SshConnection& conn, const RemoteEngineParams& p,
                                               const std::vector<std::string>& output_files) {
  auto put = conn.put_file(p.engine_file_json,
                           p.remote_profile_dir + "/security/" + p.engine_file_name, 0600);
  if (!put.ok()) return put.error();
  std::vector<long> pids;
  static const std::regex pid_re("__remote_pid=(\\d+)__");
  for (const auto& out : output_files) {
    auto r = conn.exec(remote_start_command(p, out), std::chrono::seconds(30));
    if (!r.ok()) return r.error();
    std::smatch m;
    if (r->exit_status != 0 || !std::regex_search(r->out, m, pid_re)) {
      return make_error(ErrorCode::Remote, conn.target().describe() + ": engine did not start (" +
                                               "exit " + std::to_string(r->exit_status) + "): " +
                                               r->out + r->err);
    }
    pids.push_back(std::stol(m[1].str()));
  }
  return pids;
}

Result<std::set<long>> remote_alive(SshConnection& conn, const std::vector<long>& pids) {
  if (pids.empty()) return std::set<long>{};
  auto r = conn.exec("for p in " + join_pids(pids) + "; do kill -0 $p 2>/dev/null && echo $p; done; true",
                     std::chrono::seconds(20));
  if (!r.ok()) return r.error();
  std::set<long> alive;
  std::istringstream in(r->out);
  long pid = 0;
  while (in >> pid) alive.insert(pid);
  return alive;
}

Status remote_kill(SshConnection& conn, const std::vector<long>& pids, std::chrono::seconds grace) {
  if (pids.empty()) return Ok{};
  const std::string list = join_pids(pids);
  const std::string ticks = std::to_string(grace.count() * 10);
  // TERM, then poll every 0.1 s until all are gone or the grace is over, then KILL.
  const std::string script =
      "kill -TERM " + list + " 2>/dev/null; i=0; while [ $i -lt " + ticks + " ]; do a=0; " +
      "for p in " + list + "; do kill -0 $p 2>/dev/null && a=1; done; " +
      "[ $a = 0 ] && exit 0; sleep 0.1; i=$((i+1)); done; kill -KILL " + list +
      " 2>/dev/null; exit 0";
  auto r = conn.exec(script, grace + std::chrono::seconds(25));
  if (!r.ok()) return r.error();
  return Ok{};
}

std::string remote_tail(SshConnection& conn, const std::string& path, int lines) {
  auto r = conn.exec("tail -n " + std::to_string(lines) + " " + shell_quote(path) + " 2>/dev/null; true",
                     std::chrono::seconds(20));
  return r.ok() ? r->out : "";
}

SshTarget target_for(const std::string& user, const std::string& host, int port,
                     bool strict_host_key_checking, const std::string& identity_file,
                     double timeout_s) {
  SshTarget t;
  t.user = user;
  t.host = host;
  t.port = port;
  t.strict_host_key_checking = strict_host_key_checking;
  t.identity_file = identity_file;
  t.timeout = std::chrono::seconds(static_cast<long>(timeout_s < 1 ? 1 : timeout_s));
  t.unknown_host_hint =
      "connect once with ssh to add it, or set c.SSHLauncher.strict_host_key_checking = False";
  return t;
}

int port_from_ssh_args(const std::vector<std::string>& ssh_args) {
  for (std::size_t i = 0; i + 1 < ssh_args.size(); ++i) {
    if (ssh_args[i] == "-p") {
      try {
        return std::stoi(ssh_args[i + 1]);
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace ipp::cluster
