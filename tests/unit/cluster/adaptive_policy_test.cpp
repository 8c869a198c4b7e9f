// AdaptivePolicy: grow in one batch sized to the backlog, within [min, max]; shrink only after
// engines stay idle past the timeout; no flapping between the two.
#include <ipp/cluster/adaptive_policy.hpp>
#include <ipp/config/error.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

using namespace std::chrono_literals;
using Action = AdaptiveDecision::Action;

AdaptiveObservation engines(int n, int busy = 0) {
  AdaptiveObservation o;
  for (int i = 0; i < n; ++i) o.engines.push_back({i, "u" + std::to_string(i), i >= busy, false});
  return o;
}

AdaptiveSettings settings(int min, int max, double idle = 10.0) {
  AdaptiveSettings s;
  s.min = min;
  s.max = max;
  s.idle_timeout = idle;
  s.target_duration = 1.0;
  return s;
}

TEST(AdaptivePolicy, SettingsAreChecked) {
  EXPECT_NO_THROW(settings(1, 6).check());
  EXPECT_THROW(settings(1, 0).check(), config::ConfigError);
  EXPECT_THROW(settings(7, 6).check(), config::ConfigError);
  EXPECT_THROW(settings(-1, 6).check(), config::ConfigError);
  auto s = settings(1, 6);
  s.target_duration = 0;
  EXPECT_THROW(s.check(), config::ConfigError);
  try {
    settings(7, 6).check();
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--min=7"), std::string::npos) << e.what();
  }
}

TEST(AdaptivePolicy, GrowsToTheMinimumFirst) {
  AdaptivePolicy p(settings(2, 6));
  auto d = p.observe(engines(0), 0, TimePoint{});
  EXPECT_EQ(d.action, Action::Grow);
  EXPECT_EQ(d.start, 2);
  EXPECT_NE(d.reason.find("below the minimum of 2"), std::string::npos);
  // the two starting engines count: nothing more to do
  EXPECT_EQ(p.observe(engines(0), 2, TimePoint{}).action, Action::Hold);
}

TEST(AdaptivePolicy, ABurstGrowsInOneBatchUpToTheMaximum) {
  AdaptivePolicy p(settings(1, 6));
  auto o = engines(1, 1);
  o.waiting = 599;
  o.running = 1;
  auto d = p.observe(o, 0, TimePoint{});
  ASSERT_EQ(d.action, Action::Grow);
  EXPECT_EQ(d.from, 1);
  EXPECT_EQ(d.to, 6);
  EXPECT_EQ(d.start, 5);
  EXPECT_NE(d.reason.find("599 tasks waiting"), std::string::npos) << d.reason;
  // while they start, the same backlog starts nothing more
  EXPECT_EQ(p.observe(o, 5, TimePoint{} + 1s).action, Action::Hold);
  // registered: at the maximum
  auto full = engines(6, 6);
  full.waiting = 500;
  EXPECT_EQ(p.observe(full, 0, TimePoint{} + 2s).action, Action::Hold);
}

TEST(AdaptivePolicy, AnEngineSetsCapacityLowersTheMaximum) {
  AdaptivePolicy p(settings(1, 6));
  p.limit_to(4);  // e.g. SSH hosts {'a': 2, 'b': 2}
  EXPECT_EQ(p.settings().max, 4);
  auto o = engines(1, 1);
  o.waiting = 599;
  o.running = 1;
  auto d = p.observe(o, 0, TimePoint{});
  ASSERT_EQ(d.action, Action::Grow);
  EXPECT_EQ(d.to, 4);
  EXPECT_EQ(d.start, 3);
  // a capacity below the minimum lowers the minimum too; never below one engine
  AdaptivePolicy q(settings(3, 6));
  q.limit_to(2);
  EXPECT_EQ(q.settings().min, 2);
  EXPECT_EQ(q.settings().max, 2);
  q.limit_to(0);
  EXPECT_EQ(q.settings().max, 1);
  EXPECT_EQ(q.settings().min, 1);
}

TEST(AdaptivePolicy, TheBatchIsSizedToTheBacklog) {
  AdaptivePolicy p(settings(1, 20));
  auto o = engines(2, 2);
  o.completed_timed = 100;
  o.duration_sum = 10.0;  // 0.1 s a task
  o.waiting = 40;
  o.running = 2;
  auto d = p.observe(o, 0, TimePoint{});
  ASSERT_EQ(d.action, Action::Grow);
  EXPECT_NEAR(*p.mean_duration(), 0.1, 1e-9);
  EXPECT_EQ(d.to, 5);  // 42 tasks x 0.1 s = 4.2 s of work: 5 engines for 1 s
  // a backlog the engines get through within the target starts nothing
  AdaptivePolicy q(settings(1, 20));
  o.waiting = 5;
  EXPECT_EQ(q.observe(o, 0, TimePoint{}).action, Action::Hold);
}

TEST(AdaptivePolicy, ShrinksOnlyAfterTheIdleTimeoutDownToTheMinimum) {
  AdaptivePolicy p(settings(1, 6, 10.0));
  const TimePoint t0{};
  auto idle = engines(4);
  EXPECT_EQ(p.observe(idle, 0, t0).action, Action::Hold);
  EXPECT_EQ(p.observe(idle, 0, t0 + 9s).action, Action::Hold);
  auto d = p.observe(idle, 0, t0 + 10s);
  ASSERT_EQ(d.action, Action::Shrink);
  EXPECT_EQ(d.retire.size(), 3u);  // down to 1
  EXPECT_EQ(d.to, 1);
  EXPECT_NE(d.reason.find("idle for 10 s"), std::string::npos) << d.reason;
}

TEST(AdaptivePolicy, WorkRestartsTheIdleTimeAndAWaitingTaskPreventsShrinking) {
  AdaptivePolicy p(settings(1, 6, 10.0));
  const TimePoint t0{};
  EXPECT_EQ(p.observe(engines(3), 0, t0).action, Action::Hold);
  // engines 0 and 1 take a task at 8 s: only engine 2 has been idle for 10 s at 12 s
  EXPECT_EQ(p.observe(engines(3, 2), 0, t0 + 8s).action, Action::Hold);
  auto d = p.observe(engines(3), 0, t0 + 12s);
  ASSERT_EQ(d.action, Action::Shrink);
  EXPECT_EQ(d.retire, std::vector<int>{2});
  // idle but something waits (a task no engine can take yet): no retiring
  AdaptivePolicy q(settings(1, 6, 0.0));
  auto o = engines(3);
  o.waiting = 1;
  EXPECT_NE(q.observe(o, 0, t0).action, Action::Shrink);
}

TEST(AdaptivePolicy, DrainingEnginesDoNotCountAndAreNotRetiredTwice) {
  AdaptivePolicy p(settings(1, 6, 0.0));
  auto o = engines(3);
  o.engines[2].draining = true;
  auto d = p.observe(o, 0, TimePoint{});
  ASSERT_EQ(d.action, Action::Shrink);
  EXPECT_EQ(d.from, 2);
  EXPECT_EQ(d.retire.size(), 1u);
  EXPECT_NE(d.retire[0], 2);
}

TEST(AdaptivePolicy, NoFlappingUnderASteadyTrickle) {
  // a task or two at a time, shorter than the target, each engine busy every few seconds: the
  // cluster stays as it is (it could shrink to 1 or grow to 6)
  AdaptivePolicy p(settings(1, 6, 5.0));
  TimePoint t{};
  int changes = 0;
  for (int i = 0; i < 100; ++i, t += 1s) {
    auto o = engines(2, i % 2 == 0 ? 1 : 0);
    o.engines[1].idle = i % 3 != 0;
    o.running = i % 2 == 0 ? 1 : 0;
    o.waiting = i % 2 == 0 ? 1 : 0;
    o.completed_timed = std::uint64_t(i);
    o.duration_sum = 0.2 * i;
    if (p.observe(o, 0, t).action != Action::Hold) ++changes;
  }
  EXPECT_EQ(changes, 0);
}

TEST(AdaptivePolicy, ARestartedControllerResetsTheDurationTotals) {
  AdaptivePolicy p(settings(1, 6));
  auto o = engines(1, 1);
  o.completed_timed = 100;
  o.duration_sum = 100.0;  // 1 s a task
  (void)p.observe(o, 0, TimePoint{});
  o.completed_timed = 10;
  o.duration_sum = 0.1;    // counting again from zero: 0.01 s a task
  (void)p.observe(o, 0, TimePoint{} + 1s);
  EXPECT_LT(*p.mean_duration(), 0.6);
}

}  // namespace
}  // namespace ipp::cluster
