// Stream buffering, the heartbeat watchdog, command-line parsing and option resolution.
#include <ipp/config/error.hpp>
#include <ipp/engine/options.hpp>
#include <ipp/engine/stream_buffer.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

namespace ipp::engine {
namespace {

using wire::Json;

TEST(StreamBuffer, MergesWritesOfOneStreamAndRequest) {
  StreamBuffer buf;
  auto parent = std::make_shared<const Json>(Json{{"msg_id", "a"}});
  EXPECT_EQ(buf.append("stdout", "hel", parent), StreamBuffer::Urgency::Later);
  EXPECT_EQ(buf.append("stdout", "lo\n", parent), StreamBuffer::Urgency::Newline);
  EXPECT_EQ(buf.append("stderr", "oops", parent), StreamBuffer::Urgency::Later);
  auto other = std::make_shared<const Json>(Json{{"msg_id", "b"}});
  buf.append("stderr", "!", other);
  auto chunks = buf.take();
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].name, "stdout");
  EXPECT_EQ(chunks[0].text, "hello\n");
  EXPECT_EQ(chunks[1].text, "oops");
  EXPECT_EQ(chunks[2].parent, other);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.bytes(), 0u);
}

TEST(StreamBuffer, FullWhenOverTheLimit) {
  StreamBuffer buf(8);
  auto p = std::make_shared<const Json>(Json::object());
  EXPECT_EQ(buf.append("stdout", "1234", p), StreamBuffer::Urgency::Later);
  EXPECT_EQ(buf.append("stdout", "56789", p), StreamBuffer::Urgency::Full);
}

TEST(HeartbeatWatchdog, GivesUpAfterMaxMissesInARow) {
  HeartbeatWatchdog w(3);
  EXPECT_EQ(w.check(false), HeartbeatWatchdog::Verdict::Missed);
  EXPECT_EQ(w.check(false), HeartbeatWatchdog::Verdict::Missed);
  EXPECT_EQ(w.check(true), HeartbeatWatchdog::Verdict::Ok);
  EXPECT_EQ(w.missed(), 0);
  EXPECT_EQ(w.check(false), HeartbeatWatchdog::Verdict::Missed);
  EXPECT_EQ(w.check(false), HeartbeatWatchdog::Verdict::Missed);
  EXPECT_EQ(w.check(false), HeartbeatWatchdog::Verdict::GiveUp);
}

TEST(HeartbeatWatchdog, ZeroDisables) {
  HeartbeatWatchdog w(0);
  for (int i = 0; i < 100; ++i) EXPECT_NE(w.check(false), HeartbeatWatchdog::Verdict::GiveUp);
}

TEST(CommandLine, AliasesFlagsAndClassTraits) {
  auto cli = parse_command_line({"--profile-dir=/tmp/p", "--cluster-id", "abc", "-c", "print('hi')",
                                 "--timeout=10", "--mpi", "--log-level=DEBUG",
                                 "--IPEngine.max_heartbeat_misses=3", "--log-to-file", "extra"});
  EXPECT_EQ(cli.tree["ProfileDir"]["location"], "/tmp/p");
  EXPECT_EQ(cli.tree["BaseParallelApplication"]["cluster_id"], "abc");
  EXPECT_EQ(cli.tree["IPEngine"]["startup_command"], "print('hi')");
  EXPECT_EQ(cli.tree["IPEngine"]["timeout"], 10);
  EXPECT_EQ(cli.tree["IPEngine"]["use_mpi"], true);
  EXPECT_EQ(cli.tree["IPEngine"]["max_heartbeat_misses"], 3);
  EXPECT_EQ(cli.tree["Application"]["log_level"], "DEBUG");
  EXPECT_EQ(cli.tree["BaseParallelApplication"]["log_to_file"], true);
  EXPECT_EQ(cli.extra_args, (std::vector<std::string>{"extra"}));
  EXPECT_TRUE(cli.warnings.empty());
}

TEST(CommandLine, UnknownAliasWarnsUnknownFlagFails) {
  auto cli = parse_command_line({"--bogus=1"});
  ASSERT_EQ(cli.warnings.size(), 1u);
  EXPECT_EQ(cli.warnings[0], "Unrecognized alias: 'bogus', it will have no effect.");
  EXPECT_THROW(parse_command_line({"--bogusflag"}), config::ConfigError);
  EXPECT_THROW(parse_command_line({"--file"}), config::ConfigError);
  EXPECT_TRUE(parse_command_line({"--help"}).help);
  EXPECT_TRUE(parse_command_line({"--version"}).version);
}

TEST(CommandLine, DebugAndSecureFlags) {
  auto cli = parse_command_line({"--debug", "--no-secure"});
  EXPECT_EQ(cli.tree["Application"]["log_level"], 10);
  EXPECT_EQ(cli.tree["Session"]["key"], "");
}

// resolve_setup over a fresh profile directory (no config files) and a fake environment.
class EngineSetupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    profile_ = std::filesystem::temp_directory_path() /
               ("ipp-engine-options-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(profile_);
  }
  void TearDown() override { std::filesystem::remove_all(profile_); }

  EngineSetup resolve(std::vector<std::string> args) {
    args.insert(args.begin(), "--profile-dir=" + profile_.string());
    auto env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env_.find(n);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return resolve_setup(parse_command_line(args), env);
  }

  std::filesystem::path profile_;
  std::map<std::string, std::string> env_;
};

TEST_F(EngineSetupTest, MpiRunsInitMpiFirstAndLeavesTheIdToMpi) {
  // mpiexec's environment is not read: the engine requests the rank MPI_Init reports (Python's
  // IPEngine.id default), so any MPI launcher works
  env_ = {{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"}};
  auto setup = resolve({"--mpi", "-c", "x = 1"});
  EXPECT_TRUE(setup.engine.use_mpi);
  EXPECT_EQ(setup.engine.requested_id, std::nullopt);
  EXPECT_DOUBLE_EQ(setup.engine.mpi_registration_delay_s, 0.02);
  ASSERT_EQ(setup.engine.exec_lines.size(), 2u);
  EXPECT_EQ(setup.engine.exec_lines[0], kDefaultInitMpi);
  EXPECT_EQ(setup.engine.exec_lines[1], "x = 1");
}

TEST_F(EngineSetupTest, MpiTraits) {
  auto setup = resolve({"--mpi", "--IPEngine.mpi_registration_delay=0.5", "--IPEngine.id=7",
                        "--IPEngine.init_mpi=import os"});
  EXPECT_DOUBLE_EQ(setup.engine.mpi_registration_delay_s, 0.5);
  EXPECT_EQ(setup.engine.requested_id, 7);
  EXPECT_EQ(setup.engine.exec_lines, (std::vector<std::string>{"import os"}));

  // an empty init_mpi runs nothing (Python: `if self.use_mpi and self.init_mpi`)
  setup = resolve({"--mpi", "--IPEngine.init_mpi="});
  EXPECT_TRUE(setup.engine.use_mpi);
  EXPECT_TRUE(setup.engine.exec_lines.empty());
}

TEST_F(EngineSetupTest, NoMpiByDefault) {
  auto setup = resolve({"--IPEngine.init_mpi=import os"});
  EXPECT_FALSE(setup.engine.use_mpi);
  EXPECT_TRUE(setup.engine.exec_lines.empty());
}

TEST(RegistrationDelay, OnlyMpiEnginesFromId100) {
  EngineConfig c;
  c.use_mpi = true;
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(0));  // no id yet
  c.requested_id = 99;
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(0));
  c.requested_id = 100;
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(2000));  // 100 * 0.02 s
  c.requested_id = 250;
  c.mpi_registration_delay_s = 0.1;
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(25000));
  c.mpi_registration_delay_s = 0;
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(0));
  c.mpi_registration_delay_s = 0.02;
  c.use_mpi = false;  // IPEngine.id alone never delays
  EXPECT_EQ(registration_delay(c), std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace ipp::engine
