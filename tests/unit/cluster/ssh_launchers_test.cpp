// Settings, command lines and cluster-file layout of the SSH controller launcher and the SSH
// proxy engine launcher (cluster-tooling.md §2.3, §4.2, §5.4); no ssh connection needed.
#include "cluster/launchers/ssh_remote.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/options.hpp>
#include <ipp/config/error.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

ClusterSettings settings_from(const char* json, std::vector<std::string> args = {"start"}) {
  ipp::config::LoadedConfig cfg;
  cfg.tree = ipp::config::ConfigTree::parse(json);
  ipp::config::fold_legacy(cfg);
  args.insert(args.begin(), "ipcluster");
  auto r = parse_command_line(args);
  EXPECT_TRUE(r.options);
  return resolve_settings(cfg, *r.options, "/home/u/.ipython/profile_x");
}

std::vector<std::string> keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

TEST(SshControllerSettings, NamesAndTraits) {
  for (const char* name : {"ssh", "SSH", "SSHControllerLauncher",
                           "ipyparallel.cluster.launcher.SSHControllerLauncher"}) {
    auto s = settings_from((std::string(R"({"Cluster": {"controller_launcher_class": ")") + name +
                            R"("}, "SSHControllerLauncher": {"hostname": "ctl"}})")
                               .c_str());
    EXPECT_EQ(s.controller_launcher, "ssh") << name;
  }
  // The 6.x spelling on IPClusterStart is folded into Cluster, as for engines.
  auto s = settings_from(R"({
    "IPClusterStart": {"controller_launcher_class": "SSHControllerLauncher"},
    "SSHControllerLauncher": {"hostname": "ctl", "user": "me",
                              "controller_cmd": ["/opt/ipp/bin/ipcontroller"],
                              "remote_profile_dir": "/data/profile_x",
                              "to_send": [["/tmp/a.py", "cfg/a.py"]]},
    "ControllerLauncher": {"controller_args": ["--ip=*"], "connection_info_timeout": 20},
    "SSHLauncher": {"ssh_args": ["-p", "2222", "-o", "Compression=yes"],
                    "strict_host_key_checking": false}})");
  EXPECT_EQ(s.controller_launcher, "ssh");
  const auto& c = s.ssh_controller;
  EXPECT_EQ(c.host.hostname, "ctl");
  EXPECT_EQ(c.host.user, "me");
  EXPECT_EQ(c.host.port, 2222);
  EXPECT_FALSE(c.host.strict_host_key_checking);
  EXPECT_EQ(c.host.remote_profile_dir, "/data/profile_x");
  EXPECT_EQ(c.controller_cmd, std::vector<std::string>{"/opt/ipp/bin/ipcontroller"});
  EXPECT_EQ(s.controller_args, std::vector<std::string>{"--ip=*"});
  EXPECT_DOUBLE_EQ(s.connection_info_timeout, 20.0);
  EXPECT_FALSE(c.to_fetch.has_value());  // default: both connection files
  ASSERT_EQ(c.to_send.size(), 1u);
  EXPECT_EQ(c.to_send[0], (std::pair<std::string, std::string>{"/tmp/a.py", "cfg/a.py"}));
  // -o has no libssh equivalent here: reported, not silently dropped.
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("-o Compression=yes"), std::string::npos) << s.warnings[0];
}

TEST(SshControllerSettings, DefaultsLocationAndEmptyFetch) {
  auto s = settings_from(R"({"Cluster": {"controller_launcher_class": "ssh"},
    "SSHControllerLauncher": {"location": "admin@ctl.example:2200", "to_fetch": []}})");
  const auto& c = s.ssh_controller;
  EXPECT_EQ(c.host.hostname, "ctl.example");
  EXPECT_EQ(c.host.user, "admin");
  EXPECT_EQ(c.host.port, 2200);
  EXPECT_TRUE(c.host.strict_host_key_checking);
  EXPECT_EQ(c.controller_cmd, std::vector<std::string>{"ipcontroller"});
  // An explicit empty list means "shared filesystem, fetch nothing", unlike unset.
  ASSERT_TRUE(c.to_fetch.has_value());
  EXPECT_TRUE(c.to_fetch->empty());
  EXPECT_TRUE(s.warnings.empty());
}

TEST(SshControllerSettings, Errors) {
  EXPECT_THROW(settings_from(R"({"Cluster": {"controller_launcher_class": "ssh"}})"),
               ipp::config::ConfigError);  // no host
  EXPECT_THROW(settings_from(R"({"Cluster": {"controller_launcher_class": "ssh"},
    "SSHControllerLauncher": {"hostname": "h", "to_fetch": ["only-one"]}})"),
               ipp::config::ConfigError);
  EXPECT_THROW(settings_from(R"({"Cluster": {"controller_launcher_class": "ssh"},
    "SSHControllerLauncher": {"hostname": "h", "ssh_args": ["-p", "x"]}})"),
               ipp::config::ConfigError);
  EXPECT_THROW(settings_from(R"({"Cluster": {"controller_launcher_class": "sshproxy"}})"),
               ipp::config::ConfigError);
}

TEST(SshProxySettings, NamesAndTraits) {
  auto s = settings_from(R"({
    "IPClusterEngines": {"engine_launcher_class": "SSHProxyEngineSetLauncher"},
    "SSHProxyEngineSetLauncher": {"hostname": "eng", "ipcluster_cmd": ["/opt/ipcluster"],
                                  "ipcluster_args": ["--debug"]},
    "SSHLauncher": {"user": "me", "ssh_cmd": ["/usr/bin/ssh"]}})",
                         {"start", "-n", "3"});
  EXPECT_EQ(s.engine_launcher, "sshproxy");
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(s.ssh_proxy.host.hostname, "eng");
  EXPECT_EQ(s.ssh_proxy.host.user, "me");
  EXPECT_EQ(s.ssh_proxy.host.remote_profile_dir, "/home/u/.ipython/profile_x");
  EXPECT_EQ(s.ssh_proxy.ipcluster_cmd, std::vector<std::string>{"/opt/ipcluster"});
  EXPECT_FALSE(s.ssh_proxy.to_send.has_value());
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("ssh_cmd is ignored"), std::string::npos);
  EXPECT_EQ(settings_from(R"({"Cluster": {"engine_launcher_class": "sshproxy"},
    "SSHProxyEngineSetLauncher": {"hostname": "e"}})")
                .engine_launcher,
            "sshproxy");
  EXPECT_THROW(settings_from(R"({"Cluster": {"engine_launcher_class": "sshproxy"}})"),
               ipp::config::ConfigError);
}

TEST(SshRemoteCommand, ControllerArgv) {
  auto s = settings_from(R"({"Cluster": {"controller_launcher_class": "ssh",
                                         "controller_ip": "*", "controller_args": ["--ping=250"]},
    "SSHControllerLauncher": {"hostname": "ctl", "remote_profile_dir": ".ipython/profile_x",
                              "controller_args": ["--reuse"]}})",
                         {"start", "--cluster-id=abc"});
  EXPECT_EQ(remote_controller_argv(s),
            (std::vector<std::string>{"ipcontroller", "--profile-dir=.ipython/profile_x",
                                      "--cluster-id=abc", "--ip=*", "--reuse", "--ping=250"}));
}

TEST(SshRemoteCommand, ProxyArgvAsPython) {
  auto s = settings_from(R"({"Cluster": {"engine_launcher_class": "sshproxy"},
    "SSHProxyEngineSetLauncher": {"hostname": "e", "remote_profile_dir": "p",
                                  "ipcluster_cmd": ["python3", "-m", "ipyparallel.cluster"],
                                  "ipcluster_args": ["--debug"]}})");
  EXPECT_EQ(remote_proxy_argv(s, 4),
            (std::vector<std::string>{"python3", "-m", "ipyparallel.cluster", "engines", "-n", "4",
                                      "--profile-dir", "p", "--cluster-id", "", "--debug"}));
}

TEST(SshRemoteCommand, DetachedLine) {
  RemoteProcessParams p;
  p.env = {{"IPP_PROFILE_DIR", ".ipython/profile x"}, {"IPP_CLUSTER_ID", ""}};
  p.argv = {"ipcontroller", "--ip=*"};
  p.output_file = ".ipython/profile x/log/ipcontroller-1.0000.out";
  auto line = detached_command(p, ".ipython/profile x");
  EXPECT_NE(line.find("mkdir -p '.ipython/profile x/log' '.ipython/profile x'/log && "
                      "mkdir -p -m 700 '.ipython/profile x'/security || exit 1; "),
            std::string::npos)
      << line;
  // The controller itself is the background job, so $! is its pid.
  EXPECT_NE(line.find("; IPP_PROFILE_DIR='.ipython/profile x' IPP_CLUSTER_ID='' nohup "
                      "ipcontroller '--ip=*' > '.ipython/profile x/log/ipcontroller-1.0000.out' "
                      "2>&1 < /dev/null & echo __remote_pid=$!__"),
            std::string::npos)
      << line;
}

TEST(SshRemoteCommand, OutputFileNamesAndConnectionPairs) {
  EXPECT_EQ(remote_output_file("p", {"/opt/bin/ipcontroller"}, 12.5),
            "p/log/ipcontroller-12.5000.out");
  EXPECT_EQ(remote_output_file("p", {"ipcluster", "engines"}, 1), "p/log/ipengine-1.0000.out");
  EXPECT_EQ(remote_output_file("p", {"/bin/myprog", "x"}, 1), "p/log/myprog-1.0000.out");
  auto fetch = connection_file_pairs("/l/security/ipcontroller-abc-client.json",
                                     "/l/security/ipcontroller-abc-engine.json", "rp", true);
  ASSERT_EQ(fetch.size(), 2u);
  EXPECT_EQ(fetch[0].first, "rp/security/ipcontroller-abc-client.json");
  EXPECT_EQ(fetch[0].second, "/l/security/ipcontroller-abc-client.json");
  auto send = connection_file_pairs("/l/security/c.json", "/l/security/e.json", "rp", false);
  EXPECT_EQ(send[1].first, "/l/security/e.json");
  EXPECT_EQ(send[1].second, "rp/security/e.json");
}

TEST(SshClusterFile, ControllerAndProxyLayoutsAsPython) {
  ClusterRecord r;
  r.cluster_id = "";
  r.profile_dir = "/home/u/.ipython/profile_default";
  r.controller_class = "ssh";
  LauncherState c;
  c.pid = 4242;
  c.hostname = "ctl";
  r.controller = c;
  r.engine_class = "sshproxy";
  EngineSetRecord set;
  set.id = "1700000000";
  set.set.pid = 777;
  set.set.n = 3;
  set.set.hostname = "eng";
  r.sets.push_back(set);
  auto j = r.to_json();
  // Key sets of SSHControllerLauncher.to_dict() / SSHProxyEngineSetLauncher.to_dict() (7.1).
  EXPECT_EQ(
      keys(j["controller"]["state"]),
      (std::vector<std::string>{"cluster_id", "hostname", "output_file", "pid", "profile_dir",
                                "remote_output_file", "remote_profile_dir", "remote_python",
                                "scp_args", "scp_cmd", "ssh_args", "ssh_cmd", "state", "user"}));
  EXPECT_EQ(
      keys(j["engines"]["sets"]["1700000000"]),
      (std::vector<std::string>{"cluster_id", "hostname", "n", "output_file", "pid", "profile_dir",
                                "remote_output_file", "remote_profile_dir", "remote_python",
                                "scp_args", "scp_cmd", "ssh_args", "ssh_cmd", "state", "user"}));
  EXPECT_TRUE(r.any_running());
  EXPECT_EQ(r.engine_count(), 3);
  // A proxy set has no per-engine entries; reading it back must not reject it.
  auto back = ClusterRecord::from_json(nlohmann::json::parse(python_json_dumps(j)));
  ASSERT_EQ(back.sets.size(), 1u);
  EXPECT_EQ(back.sets[0].set.pid, 777);
  EXPECT_EQ(back.sets[0].set.n, 3);
  EXPECT_EQ(back.controller->hostname, "ctl");
  back.controller->state = "after";
  back.sets[0].set.state = "after";
  EXPECT_FALSE(back.any_running());
  EXPECT_EQ(back.engine_count(), 0);
}

}  // namespace
}  // namespace ipp::cluster
