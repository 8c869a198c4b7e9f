// SSHEngineSetLauncher.engines in every form real profiles use (6.x and 7+).
#include <ipp/cluster/engines_spec.hpp>
#include <ipp/config/error.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

using ipp::config::ConfigTree;

TEST(EnginesSpec, CountsInOrder) {
  auto specs = parse_engines_spec(ConfigTree::parse(R"({"host2": 3, "host1": 2})"));
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].host, "host2");  // order as written, not sorted
  EXPECT_EQ(specs[0].n, 3);
  EXPECT_EQ(specs[1].n, 2);
  EXPECT_FALSE(specs[0].engine_args.has_value());
}

TEST(EnginesSpec, UserAndPort) {
  auto specs = parse_engines_spec(ConfigTree::parse(
      R"({"me@h1": 1, "h2:2222": 1, "you@h3:22": 1})"));
  EXPECT_EQ(specs[0].user, "me");
  EXPECT_EQ(specs[0].host, "h1");
  EXPECT_EQ(specs[0].port, 0);
  EXPECT_EQ(specs[1].host, "h2");
  EXPECT_EQ(specs[1].port, 2222);
  EXPECT_EQ(specs[2].user, "you");
  EXPECT_EQ(specs[2].host, "h3");
  EXPECT_EQ(specs[2].port, 22);
  EXPECT_EQ(specs[2].key, "you@h3:22");
}

TEST(EnginesSpec, SixXTupleForm) {
  // {'host': (2, ['--foo'])} arrives from the config reader as a list.
  auto specs = parse_engines_spec(ConfigTree::parse(R"({"h": [2, ["--foo", "--bar=1"]]})"));
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_EQ(specs[0].n, 2);
  ASSERT_TRUE(specs[0].engine_args.has_value());
  EXPECT_EQ(*specs[0].engine_args, (std::vector<std::string>{"--foo", "--bar=1"}));
}

TEST(EnginesSpec, DictForm) {
  auto specs = parse_engines_spec(ConfigTree::parse(
      R"({"h": {"n": 4, "engine_args": ["--x"], "engine_cmd": ["/opt/ipengine"],
               "remote_profile_dir": "/p", "remote_python": "python3.11"},
          "g": {"engine_args": []}})"));
  EXPECT_EQ(specs[0].n, 4);
  EXPECT_EQ(*specs[0].engine_args, std::vector<std::string>{"--x"});
  EXPECT_EQ(*specs[0].engine_cmd, std::vector<std::string>{"/opt/ipengine"});
  EXPECT_EQ(*specs[0].remote_profile_dir, "/p");
  EXPECT_EQ(*specs[0].remote_python, "python3.11");
  EXPECT_EQ(specs[1].n, 1);  // Python's default when 'n' is missing
}

TEST(EnginesSpec, BadShapesNameTheHost) {
  try {
    parse_engines_spec(ConfigTree::parse(R"({"badhost": "three"})"));
    FAIL() << "expected ConfigError";
  } catch (const ipp::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("badhost"), std::string::npos);
  }
  EXPECT_THROW(parse_engines_spec(ConfigTree::parse(R"({"h": -1})")), ipp::config::ConfigError);
  EXPECT_THROW(parse_engines_spec(ConfigTree::parse(R"({"h:port": 1})")), ipp::config::ConfigError);
  EXPECT_THROW(parse_engines_spec(ConfigTree::parse(R"({"h": {"n": 1, "bogus": 2}})")),
               ipp::config::ConfigError);
  EXPECT_THROW(parse_engines_spec(ConfigTree::parse(R"(["h"])")), ipp::config::ConfigError);
}

}  // namespace
}  // namespace ipp::cluster
