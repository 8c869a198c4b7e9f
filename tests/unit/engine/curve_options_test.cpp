// The engine's CurveZMQ settings (resolve_curve_keys, load_connection) and HandshakeCheck.
#include <ipp/config/error.hpp>
#include <ipp/engine/handshake_check.hpp>
#include <ipp/engine/options.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

namespace ipp::engine {
namespace {

constexpr const char* kServer = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* kPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* kSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

net::CurveKeyPair fake_generate() { return {"generated-public", "generated-secret"}; }

TEST(EngineCurveKeys, OffWithoutServerKey) {
  EXPECT_FALSE(resolve_curve_keys("", "x", "", "", fake_generate));
}

TEST(EngineCurveKeys, GeneratedOrConfiguredPair) {
  auto k = resolve_curve_keys(kServer, "x", "", "", fake_generate);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->server_key, kServer);
  EXPECT_EQ(k->own.public_key, "generated-public");
  k = resolve_curve_keys(kServer, "x", "", kSecret, fake_generate);
  EXPECT_EQ(k->own.public_key, kPublic);
  EXPECT_EQ(k->own.secret_key, kSecret);
}

TEST(EngineCurveKeys, Errors) {
  EXPECT_THROW(resolve_curve_keys("short", "f.json: curve_serverkey", "", "", fake_generate),
               config::ConfigError);
  EXPECT_THROW(resolve_curve_keys(kServer, "x", kPublic, "", fake_generate), config::ConfigError);
  EXPECT_THROW(resolve_curve_keys(kServer, "x", kServer, kSecret, fake_generate),
               config::ConfigError);
}

class EngineCurveSetup : public ::testing::Test {
 protected:
  void SetUp() override {
    profile_ = std::filesystem::temp_directory_path() /
               ("ipp-engine-curve-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(profile_);
  }
  void TearDown() override { std::filesystem::remove_all(profile_); }

  EngineSetup load(std::vector<std::string> args, const std::string& file_key) {
    args.insert(args.begin(), "--profile-dir=" + profile_.string());
    nlohmann::json info = {{"interface", "tcp://127.0.0.1"},
                           {"registration", 1},
                           {"control", 2},
                           {"mux", 3},
                           {"task", 4},
                           {"iopub", 5},
                           {"hb_ping", 6},
                           {"hb_pong", 7},
                           {"broadcast", {8}},
                           {"key", ""},
                           {"signature_scheme", "hmac-sha256"},
                           {"pack", "json"},
                           {"unpack", "json"}};
    info["curve_serverkey"] = file_key.empty() ? nlohmann::json(nullptr) : nlohmann::json(file_key);
    env_["IPP_CONNECTION_INFO"] = info.dump();
    auto env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env_.find(n);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    auto setup = resolve_setup(parse_command_line(args), env);
    load_connection(setup, env);
    return setup;
  }

  std::filesystem::path profile_;
  std::map<std::string, std::string> env_;
};

TEST_F(EngineCurveSetup, FileKeyWinsOverConfigAndEnvironment) {
  env_["IPP_CURVE_SERVERKEY"] = kPublic;
  auto setup = load({}, kServer);
  ASSERT_TRUE(setup.engine.curve);
  EXPECT_EQ(setup.engine.curve->server_key, kServer);
  EXPECT_TRUE(net::is_curve_key(setup.engine.curve->own.secret_key));
}

TEST_F(EngineCurveSetup, EnvironmentOrConfigWhenTheFileHasNone) {
  env_["IPP_CURVE_SERVERKEY"] = kServer;
  env_["IPP_CURVE_SECRETKEY"] = kSecret;
  auto setup = load({}, "");
  ASSERT_TRUE(setup.engine.curve);
  EXPECT_EQ(setup.engine.curve->server_key, kServer);
  EXPECT_EQ(setup.engine.curve->own.public_key, kPublic);

  env_.clear();
  setup = load({std::string("--IPEngine.curve_serverkey=") + kServer}, "");
  ASSERT_TRUE(setup.engine.curve);
  EXPECT_EQ(setup.engine.curve->server_key, kServer);
}

TEST_F(EngineCurveSetup, OffWithoutAnyServerKey) { EXPECT_FALSE(load({}, "").engine.curve); }

TEST_F(EngineCurveSetup, MalformedFileKeyNamesTheFile) {
  try {
    load({}, "not-a-key");
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("$IPP_CONNECTION_INFO: curve_serverkey"),
              std::string::npos)
        << e.what();
  }
}

TEST(HandshakeCheck, MechanismMismatchIsFatalAtOnce) {
  net::SocketEvent mismatch{ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                            ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "tcp://127.0.0.1:1"};
  HandshakeCheck curve("tcp://127.0.0.1:1", true);
  auto m = curve.on_event(mismatch);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("the controller at tcp://127.0.0.1:1"), std::string::npos);
  EXPECT_NE(m->find("does not use CurveZMQ"), std::string::npos);
  HandshakeCheck plain("tcp://127.0.0.1:1", false);
  m = plain.on_event(mismatch);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("requires CurveZMQ"), std::string::npos);
}

TEST(HandshakeCheck, ClosedConnectionsCountInARow) {
  net::SocketEvent closed{ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, ""};
  net::SocketEvent ok{ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, ""};
  HandshakeCheck check("tcp://127.0.0.1:1", true);
  EXPECT_FALSE(check.on_event(closed));
  EXPECT_FALSE(check.on_event(ok));
  EXPECT_FALSE(check.on_event(closed));
  auto m = check.on_event(closed);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("curve_serverkey"), std::string::npos);
}

TEST(HandshakeCheck, ClosingsThroughATunnelAreLeftToTheRegistrationTimeout) {
  // the tunnel's local end closes what the far end refused: nothing about CurveZMQ
  net::SocketEvent closed{ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, ECONNRESET, ""};
  net::SocketEvent mismatch{ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                            ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, ""};
  HandshakeCheck check("tcp://127.0.0.1:1", false, /*tunnelled=*/true);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(check.on_event(closed));
  EXPECT_TRUE(check.on_event(mismatch));  // a real answer from the controller still counts
}

}  // namespace
}  // namespace ipp::engine
