// The ipcluster command line, as traitlets parses Python's (cluster-tooling.md §2.5, §2.6, §3.1).
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/options.hpp>
#include <ipp/config/error.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

ParseOutcome parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ipcluster");
  return parse_command_line(args);
}

TEST(Cli, NoSubcommandIsExit1) {
  auto r = parse({});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::error);
  EXPECT_NE(r.message.find("No subcommand specified"), std::string::npos);
}

TEST(Cli, NAliasForms) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"start", "-n", "3"}, {"start", "-n=3"}, {"start", "--n=3"}, {"start", "--n", "3"}}) {
    auto r = parse(args);
    ASSERT_TRUE(r.options) << r.message;
    EXPECT_EQ(r.options->n, 3);
  }
}

TEST(Cli, AdaptiveStatusAndJsonOptions) {
  auto r = parse({"start", "--adapt", "--min=2", "--max", "5", "--idle-timeout=7.5",
                  "--status-port=8787"});
  ASSERT_TRUE(r.options) << r.message;
  EXPECT_TRUE(r.options->adapt);
  EXPECT_EQ(r.options->adapt_min, 2);
  EXPECT_EQ(r.options->adapt_max, 5);
  EXPECT_EQ(r.options->idle_timeout, 7.5);
  EXPECT_EQ(r.options->status_port, 8787);
  auto st = parse({"status", "--json", "--cluster-id=x"});
  ASSERT_TRUE(st.options) << st.message;
  EXPECT_EQ(st.options->subcommand, "status");
  EXPECT_EQ(st.options->output_format, "json");
  for (auto bad : std::vector<std::vector<std::string>>{{"start", "--max=six"},
                                                        {"start", "--min=-1"},
                                                        {"start", "--idle-timeout=soon"},
                                                        {"start", "--status-port=70000"}}) {
    auto b = parse(bad);
    EXPECT_FALSE(b.options) << bad[1];
    EXPECT_NE(b.message.find("invalid value for --"), std::string::npos) << b.message;
  }
}

TEST(Cli, StartOptions) {
  auto r = parse({"start", "--profile=myprofile", "--cluster-id", "abc", "--daemonize",
                  "--delay=0.5", "--engines=ssh", "--controller", "local", "--ip=*",
                  "--location=10.0.0.1", "--debug", "--log-to-file", "--work-dir=/tmp",
                  "--EngineLauncher.engine_args=--foo", "--", "--ping=250", "--reuse"});
  ASSERT_TRUE(r.options) << r.message;
  const auto& o = *r.options;
  EXPECT_EQ(o.subcommand, "start");
  EXPECT_EQ(*o.profile, "myprofile");
  EXPECT_EQ(*o.cluster_id, "abc");
  EXPECT_TRUE(*o.daemonize);
  EXPECT_DOUBLE_EQ(*o.delay, 0.5);
  EXPECT_EQ(*o.engines, "ssh");
  EXPECT_EQ(*o.controller, "local");
  EXPECT_EQ(*o.ip, "*");
  EXPECT_EQ(*o.location, "10.0.0.1");
  EXPECT_TRUE(o.debug);
  EXPECT_TRUE(*o.log_to_file);
  EXPECT_EQ(*o.work_dir, "/tmp");
  EXPECT_EQ(o.extra_args, (std::vector<std::string>{"--ping=250", "--reuse"}));
  EXPECT_EQ(o.cli.tree["EngineLauncher"]["engine_args"], "--foo");
}

TEST(Cli, DaemonizeIsFlagAndAlias) {
  auto r = parse({"start", "--daemonize=False"});
  ASSERT_TRUE(r.options);
  EXPECT_FALSE(*r.options->daemonize);
  r = parse({"start", "--daemonize=maybe"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::error);
}

TEST(Cli, UnknownOptionWithValueWarns) {
  auto r = parse({"start", "--bogus=1"});
  ASSERT_TRUE(r.options);
  ASSERT_EQ(r.options->warnings.size(), 1u);
  EXPECT_NE(r.options->warnings[0].find("Unrecognized alias: 'bogus'"), std::string::npos);
}

TEST(Cli, UnknownFlagIsUsageError) {
  auto r = parse({"start", "--bogusflag"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::usage);
  EXPECT_NE(r.message.find("--bogusflag"), std::string::npos);
}

TEST(Cli, MissingValueIsUsageError) {
  auto r = parse({"start", "--profile"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::usage);
  r = parse({"start", "-n", "x"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::error);
}

TEST(Cli, StopIdsListFormatProfileCreate) {
  auto r = parse({"stop", "a", "b", "--all"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->extra_args, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.options->all);
  r = parse({"list", "-o", "JSON"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->output_format, "json");
  r = parse({"profile", "create", "myprofile", "--parallel"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->profile_action, "create");
  EXPECT_EQ(r.options->profile_name, "myprofile");
  r = parse({"profile", "list"});
  EXPECT_FALSE(r.options);
}

TEST(Cli, UnknownSubcommand) {
  auto r = parse({"frobnicate"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, exit_code::error);
}

TEST(Settings, LegacyNamesAndCommandLinePrecedence) {
  ipp::config::LoadedConfig cfg;
  cfg.tree = ipp::config::ConfigTree::parse(R"({
    "IPClusterEngines": {"engine_launcher_class": "SSHEngineSetLauncher"},
    "SSHEngineSetLauncher": {"engines": {"h1": 3, "h2": 3}},
    "SSHLauncher": {"remote_engine_cmd": ["/opt/ipengine"]},
    "Cluster": {"n": 4, "delay": 2.0},
    "EngineLauncher": {"engine_args": ["--log-level=20"]}})");
  ipp::config::fold_legacy(cfg);
  auto r = parse({"start", "-n", "6"});
  ASSERT_TRUE(r.options);
  auto s = resolve_settings(cfg, *r.options, "/home/u/.ipython/profile_x");
  EXPECT_EQ(s.engine_launcher, "ssh");
  EXPECT_EQ(s.n, 6);
  EXPECT_DOUBLE_EQ(s.delay, 2.0);
  EXPECT_EQ(s.remote_engine_cmd, std::vector<std::string>{"/opt/ipengine"});
  EXPECT_EQ(s.engine_args, std::vector<std::string>{"--log-level=20"});
  EXPECT_TRUE(s.strict_host_key_checking);
  EXPECT_EQ(s.ssh_engines.size(), 2u);
}

TEST(Settings, UnsupportedLauncherIsConfigError) {
  ipp::config::LoadedConfig cfg;
  cfg.tree = ipp::config::ConfigTree::parse(R"({"Cluster": {"engine_launcher_class": "winhpc"}})");
  auto r = parse({"start"});
  ASSERT_TRUE(r.options);
  try {
    (void)resolve_settings(cfg, *r.options, "/p");
    FAIL() << "expected ConfigError";
  } catch (const ipp::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Windows HPC is not supported on this platform"),
              std::string::npos);
  }
  cfg.tree = ipp::config::ConfigTree::parse(R"({"Cluster": {"engine_launcher_class": "nope"}})");
  EXPECT_THROW(resolve_settings(cfg, *r.options, "/p"), ipp::config::ConfigError);
}

TEST(Settings, RestartLimitsAndTheirErrors) {
  ipp::config::LoadedConfig cfg;
  cfg.tree = ipp::config::ConfigTree::parse(R"({"Cluster": {
    "controller_restart_limit": 3, "controller_restart_delay": 0.5,
    "engine_restart_limit": 2}})");
  auto r = parse({"start"});
  ASSERT_TRUE(r.options);
  auto s = resolve_settings(cfg, *r.options, "/p");
  EXPECT_EQ(s.controller_restart_limit, 3);
  EXPECT_DOUBLE_EQ(s.controller_restart_delay, 0.5);
  EXPECT_DOUBLE_EQ(s.controller_restart_reset, 60.0);
  EXPECT_EQ(s.engine_restart_limit, 2);
  for (const char* bad : {R"({"Cluster": {"controller_restart_limit": -1}})",
                          R"({"Cluster": {"controller_restart_delay": -0.1}})"}) {
    cfg.tree = ipp::config::ConfigTree::parse(bad);
    try {
      (void)resolve_settings(cfg, *r.options, "/p");
      FAIL() << "expected ConfigError for " << bad;
    } catch (const ipp::config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("c.Cluster.controller_restart_"), std::string::npos);
    }
  }
}

TEST(Settings, StripHome) {
  EXPECT_EQ(strip_home("/home/u/.ipython/profile_x", "/home/u"), ".ipython/profile_x");
  EXPECT_EQ(strip_home("/home/u/.ipython/profile_x", "/home/u/"), ".ipython/profile_x");
  EXPECT_EQ(strip_home("/data/profile_x", "/home/u"), "/data/profile_x");
}

}  // namespace
}  // namespace ipp::cluster
