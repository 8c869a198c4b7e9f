#include <ipp/cluster/controller_readiness.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

using namespace std::chrono_literals;
using Step = ControllerReadiness::Step;

TEST(ControllerReadiness, AsksOncePerSecondUntilTheControllerAnswers) {
  TimePoint t0{};
  ControllerReadiness r(60, 1.0, t0);
  EXPECT_EQ(r.on_tick(t0 + 250ms, false, false), Step::Wait);  // no connection files yet
  EXPECT_EQ(r.on_tick(t0 + 500ms, true, false), Step::SendRequest);
  EXPECT_EQ(r.on_tick(t0 + 750ms, true, false), Step::Wait);
  EXPECT_EQ(r.on_tick(t0 + 1500ms, true, false), Step::SendRequest);
  r.on_new_client_file();
  EXPECT_EQ(r.on_tick(t0 + 1750ms, true, false), Step::SendRequest);
  EXPECT_TRUE(r.on_reply(t0 + 1800ms));
  EXPECT_FALSE(r.on_reply(t0 + 1900ms));
  EXPECT_TRUE(r.ready());
}

TEST(ControllerReadiness, EnginesStartAfterTheDelayOnce) {
  TimePoint t0{};
  ControllerReadiness r(60, 2.0, t0);
  EXPECT_EQ(r.on_tick(t0 + 250ms, true, false), Step::SendRequest);
  r.on_reply(t0 + 300ms);
  EXPECT_EQ(r.on_tick(t0 + 1s, true, false), Step::Wait);  // Cluster.delay from the start
  EXPECT_EQ(r.on_tick(t0 + 2s, true, false), Step::StartEngines);
  EXPECT_EQ(r.on_tick(t0 + 3s, true, false), Step::Wait);
  EXPECT_TRUE(r.done());
}

TEST(ControllerReadiness, TimesOutOnceUnlessNegative) {
  TimePoint t0{};
  ControllerReadiness r(5, 1.0, t0);
  EXPECT_EQ(r.on_tick(t0 + 4s, true, false), Step::SendRequest);
  EXPECT_EQ(r.on_tick(t0 + 6s, true, false), Step::TimedOut);
  EXPECT_EQ(r.on_tick(t0 + 7s, true, false), Step::Wait);
  EXPECT_FALSE(r.on_reply(t0 + 8s));  // too late

  ControllerReadiness forever(-1, 1.0, t0);
  EXPECT_NE(forever.on_tick(t0 + std::chrono::hours(5), false, false), Step::TimedOut);
}

TEST(ControllerReadiness, TheClockStopsWhileTheJobIsQueued) {
  TimePoint t0{};
  ControllerReadiness r(10, 1.0, t0);
  EXPECT_EQ(r.on_tick(t0 + 1min, false, true), Step::Wait);  // queued for a minute
  EXPECT_EQ(r.on_tick(t0 + 1min + 9s, false, false), Step::Wait);
  EXPECT_EQ(r.on_tick(t0 + 1min + 11s, false, false), Step::TimedOut);
}

}  // namespace
}  // namespace ipp::cluster
