#include <ipp/util/ids.hpp>
#include <ipp/util/log.hpp>

#include <gtest/gtest.h>

#include <set>

namespace ipp {
namespace {

TEST(Ids, NewIdHasJupyterShape) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_id();
    ASSERT_EQ(id.size(), 33u);
    EXPECT_EQ(id[8], '-');
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(Iso8601, RoundTripsWithMicroseconds) {
  auto t = WallTime(std::chrono::microseconds(1795689981123456LL));
  std::string s = iso8601(t);
  EXPECT_EQ(s, "2026-11-26T10:46:21.123456Z");
  EXPECT_EQ(parse_iso8601(s), t);
}

TEST(Iso8601, PadsEveryField) {
  EXPECT_EQ(iso8601(WallTime(std::chrono::microseconds(0))), "1970-01-01T00:00:00.000000Z");
  // 2001-02-03T04:05:06.000007Z
  EXPECT_EQ(iso8601(WallTime(std::chrono::microseconds(981173106000007LL))),
            "2001-02-03T04:05:06.000007Z");
  // before the epoch the fraction still counts up from the second before
  EXPECT_EQ(iso8601(WallTime(std::chrono::microseconds(-1))), "1969-12-31T23:59:59.999999Z");
}

TEST(Iso8601, AcceptsWhatPythonAccepts) {
  auto base = parse_iso8601("2026-11-26T10:46:13Z");
  ASSERT_TRUE(base);
  EXPECT_EQ(parse_iso8601("2026-11-26T10:46:13"), base);
  EXPECT_EQ(parse_iso8601("2026-11-26T12:46:13+02:00"), base);
  EXPECT_EQ(parse_iso8601("2026-11-26T12:46:13+0200"), base);
  EXPECT_EQ(*parse_iso8601("2026-11-26T10:46:13.5Z") - *base, std::chrono::microseconds(500000));
  EXPECT_FALSE(parse_iso8601("2026-11-26"));
  EXPECT_FALSE(parse_iso8601("2026-13-26T10:46:13Z"));
  EXPECT_FALSE(parse_iso8601("2026-11-26T10:46:13Zjunk"));
  EXPECT_FALSE(parse_iso8601("not a date at all!!"));
}

TEST(LogLevel, NumericAndNamed) {
  EXPECT_EQ(log::parse_level("10"), spdlog::level::debug);
  EXPECT_EQ(log::parse_level("20"), spdlog::level::info);
  EXPECT_EQ(log::parse_level("30"), spdlog::level::warn);
  EXPECT_EQ(log::parse_level("40"), spdlog::level::err);
  EXPECT_EQ(log::parse_level("50"), spdlog::level::critical);
  EXPECT_EQ(log::parse_level("debug"), spdlog::level::debug);
  EXPECT_EQ(log::parse_level("WARN"), spdlog::level::warn);
  EXPECT_EQ(log::parse_level("Warning"), spdlog::level::warn);
  EXPECT_EQ(log::parse_level("CRITICAL"), spdlog::level::critical);
  EXPECT_FALSE(log::parse_level("loud"));
  EXPECT_FALSE(log::parse_level(""));
}

TEST(LogRateLimit, AllowsOncePerPeriod) {
  log::RateLimit limit(std::chrono::hours(1));
  EXPECT_TRUE(limit.allow());
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.allow());
}

}  // namespace
}  // namespace ipp

TEST(LogPrintable, EscapesBinaryAndNewlinesAndCutsLongInput) {
  EXPECT_EQ(ipp::log::printable("apply_request"), "apply_request");
  EXPECT_EQ(ipp::log::printable(std::string("\x00\xff\nA\\", 5)), "\\x00\\xff\\x0aA\\\\");
  EXPECT_EQ(ipp::log::printable(std::string(200, 'x'), 10), "xxxxxxxxxx...(+190 bytes)");
}
