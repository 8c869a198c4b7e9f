#include "ipp/controller/heartbeat/heart_monitor.hpp"

#include <gtest/gtest.h>

#include <chrono>

using ipp::TimePoint;
using ipp::controller::heartbeat::HeartMonitor;
using ipp::controller::heartbeat::python_float_str;
using namespace std::chrono_literals;

namespace {
const TimePoint t0{};
HeartMonitor make() { return HeartMonitor(HeartMonitor::Options{}, t0); }
}  // namespace

TEST(HeartMonitor, PingPayloadLooksLikePythonFloat) {
  EXPECT_EQ(python_float_str(3.0), "3.0");
  EXPECT_EQ(python_float_str(9.00293278700002), "9.00293278700002");
  EXPECT_EQ(python_float_str(0.5), "0.5");
  EXPECT_EQ(python_float_str(1e-05), "1e-05");
  auto m = make();
  EXPECT_EQ(m.period(), 3000ms);
  auto b = m.beat(t0 + 3s);
  EXPECT_EQ(b.ping, "3.0");
  EXPECT_EQ(m.beat(t0 + 6s + 1ms).ping, "6.001");
  EXPECT_NE(m.beat(t0 + 6s + 1ms).ping, "6.001");  // time stood still: still unique
}

TEST(HeartMonitor, FirstValidPongIsNewImmediately) {
  auto m = make();
  auto ping = m.beat(t0 + 3s).ping;
  EXPECT_TRUE(m.pong("e1", ping, t0 + 3s));
  EXPECT_FALSE(m.pong("e1", ping, t0 + 3s));  // already known
  EXPECT_TRUE(m.is_known("e1"));
  EXPECT_EQ(m.heart_count(), 1u);
}

TEST(HeartMonitor, BadPayloadsAreIgnored) {
  auto m = make();
  auto p1 = m.beat(t0 + 3s).ping;
  auto p2 = m.beat(t0 + 6s).ping;
  auto p3 = m.beat(t0 + 9s).ping;
  EXPECT_FALSE(m.pong("e1", p1, t0 + 9s));  // two pings old
  EXPECT_FALSE(m.pong("e1", "garbage", t0 + 9s));
  EXPECT_FALSE(m.is_known("e1"));
  EXPECT_EQ(m.bad_pongs(), 2u);
  EXPECT_TRUE(m.pong("e1", p2, t0 + 9s));  // previous ping still counts
  EXPECT_TRUE(m.pong("e2", p3, t0 + 9s));
}

TEST(HeartMonitor, TenMissesToleratedEleventhFails) {
  auto m = make();
  auto ping = m.beat(t0 + 3s).ping;
  ASSERT_TRUE(m.pong("e1", ping, t0 + 3s));
  ASSERT_TRUE(m.pong("e2", ping, t0 + 3s));
  TimePoint now = t0 + 3s;
  // Beat that collects the first responses: no miss.
  now += 3s;
  auto b = m.beat(now);
  EXPECT_TRUE(b.failed_hearts.empty());
  EXPECT_EQ(m.misses("e1"), 0);
  for (int miss = 1; miss <= 10; ++miss) {
    m.pong("e2", b.ping, now);  // e2 keeps answering
    now += 3s;
    b = m.beat(now);
    EXPECT_TRUE(b.failed_hearts.empty()) << "miss " << miss;
    EXPECT_EQ(m.misses("e1"), miss);
    EXPECT_EQ(m.misses("e2"), 0);
  }
  m.pong("e2", b.ping, now);
  now += 3s;
  b = m.beat(now);
  ASSERT_EQ(b.failed_hearts, std::vector<std::string>{"e1"});
  EXPECT_FALSE(m.is_known("e1"));
  EXPECT_TRUE(m.is_known("e2"));
  // It comes back: new again.
  EXPECT_TRUE(m.pong("e1", b.ping, now));
}

TEST(HeartMonitor, AnswerResetsMissCount) {
  auto m = make();
  auto b = m.beat(t0 + 3s);
  m.pong("e1", b.ping, t0 + 3s);
  TimePoint now = t0 + 3s;
  for (int i = 0; i < 8; ++i) b = m.beat(now += 3s);
  EXPECT_EQ(m.misses("e1"), 7);
  m.pong("e1", b.ping, now);
  b = m.beat(now += 3s);
  EXPECT_EQ(m.misses("e1"), 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(m.beat(now += 3s).failed_hearts.empty());
  EXPECT_EQ(m.beat(now += 3s).failed_hearts.size(), 1u);
}

TEST(HeartMonitor, ForgetMakesHeartNewAgain) {
  auto m = make();
  auto b = m.beat(t0 + 3s);
  EXPECT_TRUE(m.pong("e1", b.ping, t0 + 3s));
  m.forget("e1");
  EXPECT_FALSE(m.is_known("e1"));
  EXPECT_TRUE(m.pong("e1", b.ping, t0 + 3s));
  EXPECT_EQ(m.next_beat(), t0 + 6s);
}
