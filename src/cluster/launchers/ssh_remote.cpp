#include "launchers/ssh_remote.hpp"

#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

namespace ipp::cluster {

std::string remote_output_file(const std::string& remote_profile_dir,
                               const std::vector<std::string>& program, double now) {
  std::string joined;
  for (const auto& a : program) joined += (joined.empty() ? "" : " ") + a;
  std::string name;
  if (joined.find("engine") != std::string::npos) {
    name = "ipengine";
  } else if (joined.find("controller") != std::string::npos) {
    name = "ipcontroller";
  } else {
    name = program.empty() ? "ipp" : std::filesystem::path(program.front()).filename().string();
  }
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%.4f", now);
  return remote_profile_dir + "/log/" + name + "-" + stamp + ".out";
}

std::vector<std::string> remote_controller_argv(const ClusterSettings& s) {
  const auto& c = s.ssh_controller;
  std::vector<std::string> argv = c.controller_cmd;
  argv.push_back("--profile-dir=" + c.host.remote_profile_dir);
  if (!s.cluster_id.empty()) argv.push_back("--cluster-id=" + s.cluster_id);
  if (!s.controller_ip.empty()) argv.push_back("--ip=" + s.controller_ip);
  if (!s.controller_location.empty()) argv.push_back("--location=" + s.controller_location);
  argv.insert(argv.end(), s.controller_args.begin(), s.controller_args.end());
  argv.insert(argv.end(), s.cluster_controller_args.begin(), s.cluster_controller_args.end());
  return argv;
}

std::vector<std::string> remote_proxy_argv(const ClusterSettings& s, int n) {
  const auto& p = s.ssh_proxy;
  std::vector<std::string> argv = p.ipcluster_cmd;
  argv.insert(argv.end(), {"engines", "-n", std::to_string(n), "--profile-dir",
                           p.host.remote_profile_dir, "--cluster-id", s.cluster_id});
  argv.insert(argv.end(), p.ipcluster_args.begin(), p.ipcluster_args.end());
  return argv;
}

std::string detached_command(const RemoteProcessParams& p, const std::string& remote_profile_dir) {
  const std::string rpd = shell_quote(remote_profile_dir);
  const auto slash = p.output_file.rfind('/');
  const std::string out_dir = slash == std::string::npos ? "." : p.output_file.substr(0, slash);
  std::string line = "mkdir -p " + shell_quote(out_dir) + " " + rpd + "/log && mkdir -p -m 700 " +
                     rpd + "/security || exit 1; ";
  for (const auto& [k, v] : p.env) line += k + "=" + shell_quote(v) + " ";
  line += "nohup";
  for (const auto& a : p.argv) line += " " + shell_quote(a);
  // `|| exit` above, not `&&` before the command: a backgrounded list would run in a subshell
  // whose pid $! would be.
  return line + " > " + shell_quote(p.output_file) + " 2>&1 < /dev/null & echo __remote_pid=$!__";
}

Result<long> start_detached(SshConnection& conn, const RemoteProcessParams& p,
                            const std::string& remote_profile_dir, const std::string& what) {
  auto r = conn.exec(detached_command(p, remote_profile_dir), std::chrono::seconds(30));
  if (!r.ok()) return r.error();
  static const std::regex pid_re("__remote_pid=(\\d+)__");
  std::smatch m;
  if (r->exit_status != 0 || !std::regex_search(r->out, m, pid_re)) {
    return make_error(ErrorCode::Remote,
                      conn.target().describe() + ": " + what + " did not start (exit " +
                          std::to_string(r->exit_status) + "): " + r->out + r->err);
  }
  return std::stol(m[1].str());
}

FilePairs connection_file_pairs(const std::filesystem::path& client_file,
                                const std::filesystem::path& engine_file,
                                const std::string& remote_profile_dir, bool fetch) {
  FilePairs out;
  for (const auto& local : {client_file, engine_file}) {
    std::string remote = remote_profile_dir + "/security/" + local.filename().string();
    if (fetch) {
      out.emplace_back(remote, local.string());
    } else {
      out.emplace_back(local.string(), remote);
    }
  }
  return out;
}

Status send_files(SshConnection& conn, const FilePairs& pairs) {
  for (const auto& [local, remote] : pairs) {
    std::ifstream in(local, std::ios::binary);
    if (!in) {
      return make_error(ErrorCode::Io,
                        "cannot read " + local + " to send it to " + conn.target().describe());
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto st = conn.put_file(ss.str(), remote, 0600);
    if (!st.ok()) return st;
  }
  return Ok{};
}

}  // namespace ipp::cluster
