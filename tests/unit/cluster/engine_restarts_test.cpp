// The engine restart decisions of `ipcluster` (c.Cluster.engine_restart_*), without processes.
#include <ipp/cluster/engine_restarts.hpp>

#include <gtest/gtest.h>

namespace ipp::cluster {
namespace {

using std::chrono::milliseconds;

EngineRestartPolicy policy(int limit, double delay = 1.0, double max_delay = 60.0,
                           double reset = 60.0) {
  return EngineRestartPolicy({limit, delay, max_delay, reset});
}

TEST(EngineRestartPolicy, OffByDefault) {
  EngineRestartPolicy p({});
  EXPECT_FALSE(p.enabled());
  EXPECT_FALSE(p.on_exit(1000).restart);
  EXPECT_EQ(p.restarts(), 0);
}

TEST(EngineRestartPolicy, YoungDeathsBackOffThenStopAtTheLimit) {
  auto p = policy(3, 0.5);
  auto d1 = p.on_exit(2.0);
  EXPECT_TRUE(d1.restart);
  EXPECT_EQ(d1.attempt, 1);
  EXPECT_EQ(d1.after, milliseconds(500));
  auto d2 = p.on_exit(0.1);
  EXPECT_EQ(d2.after, milliseconds(1000));
  auto d3 = p.on_exit(-1);  // unknown uptime counts as young
  EXPECT_EQ(d3.attempt, 3);
  EXPECT_EQ(d3.after, milliseconds(2000));
  auto d4 = p.on_exit(0.1);
  EXPECT_FALSE(d4.restart);
  EXPECT_EQ(d4.attempt, 3);
  EXPECT_FALSE(p.on_exit(0.1).restart);  // stays refused
  EXPECT_EQ(p.restarts(), 3);
}

TEST(EngineRestartPolicy, AnEngineThatRanLongEnoughStartsTheStreakOver) {
  auto p = policy(2, 1.0, 60.0, 30.0);
  EXPECT_TRUE(p.on_exit(1).restart);
  EXPECT_TRUE(p.on_exit(1).restart);
  EXPECT_FALSE(p.on_exit(1).restart);
  // a later engine of the set ran 30 s: healthy, replaced after the base delay again
  auto d = p.on_exit(30);
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.attempt, 1);
  EXPECT_EQ(d.after, milliseconds(1000));
  EXPECT_EQ(p.restarts(), 3);
}

TEST(EngineRestartPolicy, DelayIsCapped) {
  auto p = policy(20, 1.0, 5.0);
  milliseconds last{0};
  for (int i = 0; i < 10; ++i) last = p.on_exit(0).after;
  EXPECT_EQ(last, milliseconds(5000));
}

}  // namespace
}  // namespace ipp::cluster
