#include <ipp/ssh/target.hpp>

#include <gtest/gtest.h>

namespace ipp::ssh {
namespace {

TEST(ParseServer, HostOnly) {
  auto t = parse_server("ctrl.example.org");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "ctrl.example.org");
  EXPECT_EQ(t->user, "");
  EXPECT_EQ(t->port, 0);
  EXPECT_TRUE(t->strict_host_key_checking);
  EXPECT_EQ(t->describe(), "ctrl.example.org");
}

TEST(ParseServer, UserHostPort) {
  auto t = parse_server("alice@10.0.0.5:2222");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->user, "alice");
  EXPECT_EQ(t->host, "10.0.0.5");
  EXPECT_EQ(t->port, 2222);
  EXPECT_EQ(t->describe(), "alice@10.0.0.5:2222");
}

TEST(ParseServer, UserHost) {
  auto t = parse_server("root@ippctrl");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->user, "root");
  EXPECT_EQ(t->host, "ippctrl");
  EXPECT_EQ(t->port, 0);
}

TEST(ParseServer, Rejects) {
  for (const char* bad :
       {"", "@host", "user@", "host:", "host:ssh", "host:0", "host:70000", "user@:22"}) {
    auto t = parse_server(bad);
    EXPECT_FALSE(t.ok()) << bad;
    if (!t.ok()) {
      EXPECT_NE(t.error().message.find("[user@]host[:port]"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ipp::ssh
