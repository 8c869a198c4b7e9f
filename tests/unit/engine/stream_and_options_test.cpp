// Stream buffering, the heartbeat watchdog and command-line parsing.
#include <ipp/config/error.hpp>
#include <ipp/engine/options.hpp>
#include <ipp/engine/stream_buffer.hpp>

#include <gtest/gtest.h>

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

TEST(MpiRank, FromLauncherEnvironment) {
  std::map<std::string, std::string> vars = {{"OMPI_COMM_WORLD_RANK", "3"},
                                             {"OMPI_COMM_WORLD_SIZE", "4"}};
  auto env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(mpi_rank_from_env(env), 3);
  vars["OMPI_COMM_WORLD_SIZE"] = "1";
  EXPECT_EQ(mpi_rank_from_env(env), std::nullopt);
  vars.clear();
  EXPECT_EQ(mpi_rank_from_env(env), std::nullopt);
}

}  // namespace
}  // namespace ipp::engine
