#include <ipp/util/log_tally.hpp>

#include <spdlog/sinks/ostream_sink.h>

#include <gtest/gtest.h>

#include <sstream>

namespace ipp {
namespace {

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return t; }
  TimePoint t{};
};

struct Captured {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  Captured() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
    sink->set_pattern("%l|%v");
    logger = std::make_shared<spdlog::logger>("tally-test", sink);
    logger->set_level(spdlog::level::info);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

TEST(LogTally, FirstReportOfAKindIsLoggedTheRestCountedAndSummarised) {
  Captured c;
  FakeClock clock;
  log::Tally tally(c.logger, std::chrono::seconds(5), &clock);
  int described = 0;
  for (int i = 0; i < 1000; ++i) {
    tally.report(spdlog::level::warn, "bad query message", [&] {
      ++described;
      return std::string("Bad Query Message: no delimiter");
    });
  }
  tally.report(spdlog::level::err, "stalled registration", [] { return std::string("stalled 3"); });
  EXPECT_EQ(described, 1);  // lines are built only when written
  clock.t += std::chrono::seconds(5);
  tally.flush();
  tally.flush();  // nothing new: no second summary
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 3u) << c.out.str();
  EXPECT_EQ(lines[0], "warning|Bad Query Message: no delimiter");
  EXPECT_EQ(lines[1], "error|stalled 3");
  EXPECT_EQ(lines[2],
            "warning|999 more: bad query message (in the last 5.0 s; 1000 since start-up)");
  EXPECT_EQ(tally.total("bad query message"), 1000u);
  EXPECT_EQ(tally.total("stalled registration"), 1u);
  EXPECT_EQ(tally.total("never"), 0u);
}

TEST(LogTally, AReportAfterAQuietPeriodIsLoggedAfterTheCountOfTheLastOne) {
  Captured c;
  FakeClock clock;
  log::Tally tally(c.logger, std::chrono::seconds(5), &clock);
  for (int i = 0; i < 3; ++i) tally.report(spdlog::level::warn, "k", [] { return std::string("x"); });
  clock.t += std::chrono::seconds(7);
  tally.report(spdlog::level::warn, "k", [] { return std::string("y"); });
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 3u) << c.out.str();
  EXPECT_EQ(lines[0], "warning|x");
  EXPECT_EQ(lines[1], "warning|2 more: k (in the last 7.0 s; 4 since start-up)");
  EXPECT_EQ(lines[2], "warning|y");
}

TEST(LogTally, ReportsBelowTheLoggersLevelAreCountedButNeverBuilt) {
  Captured c;
  c.logger->set_level(spdlog::level::err);
  log::Tally tally(c.logger);
  bool built = false;
  tally.report(spdlog::level::warn, "k", [&] {
    built = true;
    return std::string("x");
  });
  tally.flush();
  EXPECT_FALSE(built);
  EXPECT_TRUE(c.out.str().empty());
  EXPECT_EQ(tally.total("k"), 1u);
}

}  // namespace
}  // namespace ipp
