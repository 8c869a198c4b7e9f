// The start-up state machine of `ipcluster start`, driven with a fake clock.
#include <ipp/cluster/startup_monitor.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

using namespace std::chrono_literals;
using Kind = MonitorAction::Kind;

TimePoint t0() { return TimePoint{} + 1000s; }

std::vector<Kind> kinds(const std::vector<MonitorAction>& a) {
  std::vector<Kind> out;
  for (const auto& x : a) out.push_back(x.kind);
  return out;
}

TEST(StartupMonitor, ProgressThenSuccess) {
  StartupMonitor m(6, 30s, t0());
  auto a = m.on_registered(4, t0() + 2s);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Progress});
  EXPECT_EQ(a[0].message, "4/6 engines registered");
  EXPECT_TRUE(m.on_registered(4, t0() + 3s).empty());  // no repeat for the same count
  a = m.on_registered(6, t0() + 4s);
  ASSERT_EQ(kinds(a), (std::vector<Kind>{Kind::Progress, Kind::Success}));
  EXPECT_EQ(a[1].message, "Engines appear to have started successfully");
  EXPECT_TRUE(m.succeeded());
  EXPECT_FALSE(m.wants_probe(t0() + 10s));
}

TEST(StartupMonitor, AllEnginesDeadWithinWindowIsEarlyShutdown) {
  StartupMonitor m(2, 30s, t0());
  EXPECT_TRUE(m.on_engine_exit(t0() + 5s).empty());
  auto a = m.on_engine_exit(t0() + 6s);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::EarlyShutdown});
  EXPECT_NE(a[0].message.find("Engines shutdown early"), std::string::npos);
  EXPECT_NE(a[0].message.find("--ip"), std::string::npos);
  EXPECT_TRUE(m.shut_down());
  EXPECT_TRUE(m.on_registered(1, t0() + 7s).empty());
}

TEST(StartupMonitor, DeathsAfterWindowOnlyWarn) {
  StartupMonitor m(2, 30s, t0());
  m.on_engine_exit(t0() + 31s);
  auto a = m.on_engine_exit(t0() + 32s);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Warning});
  EXPECT_FALSE(m.shut_down());
}

TEST(StartupMonitor, DeathsAfterSuccessDoNotShutDown) {
  StartupMonitor m(1, 30s, t0());
  m.on_registered(1, t0() + 1s);
  auto a = m.on_engine_exit(t0() + 2s);
  EXPECT_EQ(kinds(a), std::vector<Kind>{Kind::Warning});
  EXPECT_FALSE(m.shut_down());
}

TEST(StartupMonitor, SomeMissingAfterWindowWarnsOnce) {
  StartupMonitor m(3, 30s, t0());
  m.on_registered(2, t0() + 1s);
  EXPECT_TRUE(m.on_tick(t0() + 29s).empty());
  auto a = m.on_tick(t0() + 31s);
  ASSERT_EQ(kinds(a), std::vector<Kind>{Kind::Warning});
  EXPECT_NE(a[0].message.find("2/3"), std::string::npos);
  EXPECT_TRUE(m.on_tick(t0() + 40s).empty());
}

TEST(StartupMonitor, ProbeCadence) {
  StartupMonitor m(2, 30s, t0());
  EXPECT_TRUE(m.wants_probe(t0()));
  m.probed(t0());
  EXPECT_FALSE(m.wants_probe(t0() + 500ms));
  EXPECT_TRUE(m.wants_probe(t0() + 1s));
  m.probed(t0() + 31s);
  EXPECT_FALSE(m.wants_probe(t0() + 33s));  // 5 s after the window
  EXPECT_TRUE(m.wants_probe(t0() + 36s));
}

}  // namespace
}  // namespace ipp::cluster
