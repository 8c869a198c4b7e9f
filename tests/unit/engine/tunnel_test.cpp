// Engine SSH tunnels: which ssh server the engine uses (command line, config file, the engine
// connection file's "ssh", --sshkey alone) and how the controller's addresses become local
// forwards.
#include <ipp/config/error.hpp>
#include <ipp/engine/options.hpp>
#include <ipp/engine/tunnel.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace ipp::engine {
namespace {

config::ConnectionInfo engine_file(const std::string& ssh = "") {
  config::ConnectionInfo e;
  e.kind = config::ConnectionKind::Engine;
  e.ssh = ssh;
  e.interface = "tcp://10.1.2.3";
  e.registration = 40001;
  e.control = 40002;
  e.mux = 40003;
  e.task = 40004;
  e.iopub = 40005;
  e.hb_ping = 40006;
  e.hb_pong = 40007;
  e.broadcast = {40008, 40009};
  e.key = "k";
  e.location = "ctrl";
  return e;
}

// resolve_setup + load_connection over a fresh profile, the engine file in $IPP_CONNECTION_INFO.
class TunnelSetupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    profile_ = std::filesystem::temp_directory_path() /
               ("ipp-engine-tunnel-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(profile_);
  }
  void TearDown() override { std::filesystem::remove_all(profile_); }

  EngineSetup load(std::vector<std::string> args, const config::ConnectionInfo& file) {
    args.insert(args.begin(), "--profile-dir=" + profile_.string());
    env_["IPP_CONNECTION_INFO"] = file.to_json().dump();
    auto env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env_.find(n);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    EngineSetup setup = resolve_setup(parse_command_line(args), env);
    load_connection(setup, env);
    return setup;
  }
  void write_config(const std::string& text) {
    std::ofstream(profile_ / "ipengine_config.py") << text;
  }

  std::filesystem::path profile_;
  std::map<std::string, std::string> env_;
};

TEST_F(TunnelSetupTest, NoTunnelByDefault) {
  auto setup = load({}, engine_file());
  EXPECT_FALSE(setup.tunnel.has_value());
  EXPECT_EQ(setup.engine.connection.url(setup.engine.connection.mux), "tcp://10.1.2.3:40003");
}

TEST_F(TunnelSetupTest, TheEngineFilesSshIsUsedWhenNothingIsConfigured) {
  auto setup = load({}, engine_file("root@ctrl"));
  ASSERT_TRUE(setup.tunnel.has_value());
  EXPECT_EQ(setup.tunnel->user, "root");
  EXPECT_EQ(setup.tunnel->host, "ctrl");
  EXPECT_EQ(setup.tunnel->port, 0);
  EXPECT_EQ(setup.tunnel->identity_file, "");
  EXPECT_TRUE(setup.tunnel->strict_host_key_checking);
}

TEST_F(TunnelSetupTest, CommandLineAliasesBeatTheEngineFile) {
  for (const char* option :
       {"--ssh=alice@gw:2222", "--sshserver=alice@gw:2222", "--IPEngine.sshserver=alice@gw:2222"}) {
    auto setup = load({option, "--sshkey=/keys/id"}, engine_file("root@ctrl"));
    ASSERT_TRUE(setup.tunnel.has_value()) << option;
    EXPECT_EQ(setup.tunnel->describe(), "alice@gw:2222") << option;
    EXPECT_EQ(setup.tunnel->identity_file, "/keys/id") << option;
  }
}

TEST_F(TunnelSetupTest, ConfigFileBeatsTheEngineFileAndCommandLineBeatsConfig) {
  write_config(
      "c = get_config()\nc.IPEngine.sshserver = 'cfg@gw'\n"
      "c.IPEngine.sshkey = '/keys/cfg'\n");
  auto setup = load({}, engine_file("root@ctrl"));
  ASSERT_TRUE(setup.tunnel.has_value());
  EXPECT_EQ(setup.tunnel->describe(), "cfg@gw");
  EXPECT_EQ(setup.tunnel->identity_file, "/keys/cfg");

  setup = load({"--ssh=cli@gw"}, engine_file("root@ctrl"));
  EXPECT_EQ(setup.tunnel->describe(), "cli@gw");
  EXPECT_EQ(setup.tunnel->identity_file, "/keys/cfg");
}

TEST_F(TunnelSetupTest, AKeyAloneTunnelsToTheControllersOwnHost) {
  // IPEngine.init_connector: sshserver = the registration url's host
  auto setup = load({"--sshkey=/keys/id"}, engine_file());
  ASSERT_TRUE(setup.tunnel.has_value());
  EXPECT_EQ(setup.tunnel->host, "10.1.2.3");
  EXPECT_EQ(setup.tunnel->user, "");
  EXPECT_EQ(setup.tunnel->identity_file, "/keys/id");
}

TEST_F(TunnelSetupTest, ABadServerNamesWhereItCameFrom) {
  try {
    load({"--ssh=gw:notaport"}, engine_file());
    FAIL() << "no error";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("IPEngine.sshserver"), std::string::npos) << e.what();
  }
  try {
    load({}, engine_file("root@"));
    FAIL() << "no error";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("$IPP_CONNECTION_INFO: ssh"), std::string::npos)
        << e.what();
  }
}

TEST(TunnelConnection, EveryChannelMovesToItsLocalForward) {
  std::map<int, int> asked;
  int next = 50000;
  auto forward = [&](const std::string& host, int port) -> Result<int> {
    EXPECT_EQ(host, "10.1.2.3");
    EXPECT_EQ(asked.count(port), 0u) << "port " << port << " forwarded twice";
    asked[port] = next;
    return next++;
  };
  auto out = tunnel_connection(engine_file(), forward);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(asked.size(), 9u);
  EXPECT_EQ(out->interface, "tcp://127.0.0.1");
  EXPECT_EQ(out->url(out->registration), "tcp://127.0.0.1:" + std::to_string(asked[40001]));
  EXPECT_EQ(out->url(out->hb_pong), "tcp://127.0.0.1:" + std::to_string(asked[40007]));
  EXPECT_EQ(out->control, asked[40002]);
  EXPECT_EQ(out->mux, asked[40003]);
  EXPECT_EQ(out->task, asked[40004]);
  EXPECT_EQ(out->iopub, asked[40005]);
  EXPECT_EQ(out->hb_ping, asked[40006]);
  EXPECT_EQ(out->broadcast, (std::vector<int>{asked[40008], asked[40009]}));
  EXPECT_EQ(out->key, "k");  // the rest is untouched
}

TEST(TunnelConnection, TheFarAddressIsTheDisambiguatedOne) {
  // "*" with a location elsewhere: the far end is the location, as the engine would connect
  auto info = engine_file();
  info.interface = "tcp://*";
  info.location = "10.9.8.7";
  std::set<std::string> hosts;
  auto out = tunnel_connection(info, [&](const std::string& host, int) -> Result<int> {
    hosts.insert(host);
    return 50000;
  });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(hosts, (std::set<std::string>{"10.9.8.7"}));
  EXPECT_EQ(out->url(out->mux), "tcp://127.0.0.1:50000");
}

TEST(TunnelConnection, ASharedPortIsForwardedOnce) {
  auto info = engine_file();
  info.broadcast = {info.mux};
  int calls = 0;
  auto out = tunnel_connection(
      info, [&](const std::string&, int) -> Result<int> { return 50000 + calls++; });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(calls, 7);  // seven channels, the broadcast port being the mux port
  EXPECT_EQ(out->broadcast.front(), out->mux);
}

TEST(TunnelConnection, ErrorsNameTheChannel) {
  auto info = engine_file();
  info.interface = "ipc:///tmp/ctrl";
  auto out = tunnel_connection(info, [](const std::string&, int) -> Result<int> { return 1; });
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("only tcp"), std::string::npos) << out.error().message;

  out = tunnel_connection(engine_file(), [](const std::string& h, int p) -> Result<int> {
    return make_error(ErrorCode::Io, "cannot listen for " + h + ":" + std::to_string(p));
  });
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message, "cannot listen for 10.1.2.3:40001");
}

}  // namespace
}  // namespace ipp::engine
