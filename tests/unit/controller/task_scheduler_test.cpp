#include "ipp/controller/sched/task_scheduler.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>

using namespace ipp::controller::sched;
using ipp::TimePoint;
using ipp::wire::Json;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{};

TaskSpec spec(const std::string& id, Json md = Json::object()) {
  return TaskSpec::from_metadata(id, md);
}

template <typename T>
std::vector<T> only(const Actions& a) {
  std::vector<T> out;
  for (const auto& x : a)
    if (auto p = std::get_if<T>(&x)) out.push_back(*p);
  return out;
}

std::vector<std::pair<std::string, std::string>> dispatches(const Actions& a) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : only<Dispatch>(a)) out.emplace_back(d.msg_id, d.engine_uuid);
  return out;
}

using P = std::pair<std::string, std::string>;

TaskScheduler make(int hwm = 1, Scheme scheme = Scheme::LeastLoad) {
  TaskScheduler::Options o;
  o.hwm = hwm;
  o.scheme = scheme;
  return TaskScheduler(o);
}

}  // namespace

TEST(TaskSpec, FromMetadataIsTolerant) {
  auto s = TaskSpec::from_metadata(
      "m", Json::parse(R"({"after":null,"follow":[],"timeout":0.0,"targets":null,"retries":null})"));
  EXPECT_TRUE(s.after.empty());
  EXPECT_TRUE(s.targets.empty());
  EXPECT_EQ(s.retries, 0);
  EXPECT_EQ(s.timeout, 0.0);
  EXPECT_FALSE(s.invalid_dependency);
  auto f = TaskSpec::from_metadata(
      "m", Json::parse(R"({"after":["a"],"targets":["e1","e2"],"retries":2,"timeout":1.5})"));
  EXPECT_EQ(f.after.ids, std::vector<std::string>{"a"});
  EXPECT_EQ(f.targets.size(), 2u);
  EXPECT_EQ(f.retries, 2);
  EXPECT_DOUBLE_EQ(f.timeout, 1.5);
  EXPECT_TRUE(TaskSpec::from_metadata("m", Json::parse(R"({"follow":[3]})")).invalid_dependency);
  EXPECT_TRUE(TaskSpec::from_metadata("m", Json()).targets.empty());
}

TEST(TaskScheduler, Hwm1SendsOneTaskPerEngineThenOnePerReply) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  // New engines go to the head of the line: e2 is least recently used now.
  EXPECT_EQ(s.engines_lru(), (std::vector<std::string>{"e2", "e1"}));
  EXPECT_EQ(dispatches(s.submit(spec("t1"), t0)), (std::vector<P>{{"t1", "e2"}}));
  EXPECT_EQ(dispatches(s.submit(spec("t2"), t0)), (std::vector<P>{{"t2", "e1"}}));
  EXPECT_TRUE(dispatches(s.submit(spec("t3"), t0)).empty());
  EXPECT_TRUE(dispatches(s.submit(spec("t4"), t0)).empty());
  EXPECT_EQ(s.queued_count(), 2u);
  EXPECT_EQ(s.load("e1"), 1);
  auto a = s.reply("t2", "e1", true, true, t0);
  ASSERT_EQ(only<Relay>(a).size(), 1u);
  EXPECT_EQ(only<Relay>(a)[0].msg_id, "t2");
  EXPECT_EQ(only<Forget>(a)[0].msg_id, "t2");
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"t3", "e1"}}));  // oldest queued first
  a = s.reply("t1", "e2", true, true, t0);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"t4", "e2"}}));
  EXPECT_EQ(s.queued_count(), 0u);
  EXPECT_EQ(s.running_count(), 2u);
}

TEST(TaskScheduler, Hwm0PushesEverythingAndBalancesByLoad) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  std::map<std::string, int> per;
  for (int i = 0; i < 10; ++i) {
    auto d = dispatches(s.submit(spec("t" + std::to_string(i)), t0));
    ASSERT_EQ(d.size(), 1u);
    ++per[d[0].second];
  }
  EXPECT_EQ(per["e1"], 5);
  EXPECT_EQ(per["e2"], 5);
  EXPECT_EQ(s.load("e1"), 5);
  EXPECT_EQ(s.queued_count(), 0u);
}

TEST(TaskScheduler, LruRotation) {
  auto s = make(0, Scheme::Lru);
  for (auto e : {"e3", "e2", "e1"}) s.engine_registered(e, t0);
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i)
    order.push_back(dispatches(s.submit(spec("t" + std::to_string(i)), t0))[0].second);
  EXPECT_EQ(order, (std::vector<std::string>{"e1", "e2", "e3", "e1", "e2", "e3"}));
}

TEST(TaskScheduler, NoEngineQueuesUntilRegistration) {
  auto s = make(1);
  EXPECT_TRUE(s.submit(spec("t1"), t0).empty());
  EXPECT_TRUE(s.is_queued("t1"));
  EXPECT_EQ(dispatches(s.engine_registered("e1", t0)), (std::vector<P>{{"t1", "e1"}}));
}

TEST(TaskScheduler, TargetsRestrictEngines) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  EXPECT_EQ(dispatches(s.submit(spec("a", {{"targets", {"e1"}}}), t0)),
            (std::vector<P>{{"a", "e1"}}));
  // e1 is busy; a second task for e1 waits although e2 is idle.
  EXPECT_TRUE(dispatches(s.submit(spec("b", {{"targets", {"e1"}}}), t0)).empty());
  EXPECT_EQ(dispatches(s.submit(spec("c"), t0)), (std::vector<P>{{"c", "e2"}}));
  auto a = s.reply("a", "e1", true, true, t0);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"b", "e1"}}));
}

TEST(TaskScheduler, TargetsNotRegisteredFailImpossible) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  auto a = s.submit(spec("a", {{"targets", {"ghost"}}}), t0);
  ASSERT_EQ(only<Fail>(a).size(), 1u);
  EXPECT_EQ(only<Fail>(a)[0].ename, "ImpossibleDependency");
  EXPECT_EQ(only<Fail>(a)[0].evalue, "");
}

TEST(TaskScheduler, TargetGoneFailsQueuedTasks) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.submit(spec("a", {{"targets", {"e1"}}}), t0);
  s.submit(spec("b", {{"targets", {"e1"}}}), t0);
  EXPECT_TRUE(s.is_queued("b"));
  auto a = s.engine_unregistered("e1", t0);
  ASSERT_EQ(only<Fail>(a).size(), 1u);
  EXPECT_EQ(only<Fail>(a)[0].msg_id, "b");
  EXPECT_EQ(only<Fail>(a)[0].ename, "ImpossibleDependency");
}

TEST(TaskScheduler, RetriesBlacklistAndGoElsewhere) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  auto first = dispatches(s.submit(spec("t", {{"retries", 1}}), t0));
  ASSERT_EQ(first.size(), 1u);
  const std::string bad = first[0].second;
  const std::string other = bad == "e1" ? "e2" : "e1";
  auto a = s.reply("t", bad, false, true, t0);
  EXPECT_TRUE(only<Relay>(a).empty());  // first failure invisible to the client
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"t", other}}));
  a = s.reply("t", other, false, true, t0);  // no retries left: relayed as failed
  ASSERT_EQ(only<Relay>(a).size(), 1u);
  EXPECT_FALSE(only<Relay>(a)[0].success);
  // A dependent with failure=false is now impossible.
  auto d = s.submit(spec("u", {{"after", {"t"}}}), t0);
  ASSERT_EQ(only<Fail>(d).size(), 1u);
  EXPECT_EQ(only<Fail>(d)[0].ename, "ImpossibleDependency");
}

TEST(TaskScheduler, RetriesWithAllEnginesBlacklistedWaitForNewEngine) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.submit(spec("t", {{"retries", 3}}), t0);
  auto a = s.reply("t", "e1", false, true, t0);
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(s.is_queued("t"));
  EXPECT_EQ(dispatches(s.engine_registered("e2", t0)), (std::vector<P>{{"t", "e2"}}));
}

TEST(TaskScheduler, UnmetDependencyTriesAnotherEngine) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  auto d = dispatches(s.submit(spec("t", {{"targets", {"e1", "e2"}}}), t0));
  const std::string first = d[0].second;
  const std::string other = first == "e1" ? "e2" : "e1";
  auto a = s.reply("t", first, true, false, t0);
  EXPECT_TRUE(only<Relay>(a).empty());
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"t", other}}));
  a = s.reply("t", other, true, false, t0);  // every target refused
  ASSERT_EQ(only<Fail>(a).size(), 1u);
  EXPECT_EQ(only<Fail>(a)[0].ename, "ImpossibleDependency");
}

TEST(TaskScheduler, AfterChainRunsInOrder) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  EXPECT_EQ(dispatches(s.submit(spec("a"), t0)).size(), 1u);
  EXPECT_TRUE(dispatches(s.submit(spec("b", {{"after", {"a"}}}), t0)).empty());
  EXPECT_TRUE(dispatches(s.submit(spec("c", {{"after", {"b"}}}), t0)).empty());
  auto ea = *s.running_on("a");
  auto r = s.reply("a", ea, true, true, t0);
  ASSERT_EQ(dispatches(r).size(), 1u);
  EXPECT_EQ(dispatches(r)[0].first, "b");
  r = s.reply("b", dispatches(r)[0].second, true, true, t0);
  ASSERT_EQ(dispatches(r).size(), 1u);
  EXPECT_EQ(dispatches(r)[0].first, "c");
}

TEST(TaskScheduler, AfterAlreadyMetRunsAtOnce) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.submit(spec("a"), t0);
  s.reply("a", "e1", true, true, t0);
  EXPECT_EQ(dispatches(s.submit(spec("b", {{"after", {"a"}}}), t0)).size(), 1u);
}

TEST(TaskScheduler, AfterAnyAndFailureFlags) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.submit(spec("a"), t0);
  s.submit(spec("b"), t0);
  Json any = {{"dependencies", {"a", "b"}}, {"all", false}, {"success", true},
              {"failure", false}};
  s.submit(spec("c", {{"after", any}}), t0);
  Json on_fail = {{"dependencies", {"a"}}, {"all", true}, {"success", false},
                  {"failure", true}};
  s.submit(spec("d", {{"after", on_fail}}), t0);
  EXPECT_TRUE(s.is_queued("c"));
  EXPECT_TRUE(s.is_queued("d"));
  auto r = s.reply("b", "e1", true, true, t0);  // any: one success is enough
  EXPECT_EQ(dispatches(r), (std::vector<P>{{"c", "e1"}}));
  r = s.reply("a", "e1", true, true, t0);  // d wanted a failure: impossible now
  ASSERT_EQ(only<Fail>(r).size(), 1u);
  EXPECT_EQ(only<Fail>(r)[0].msg_id, "d");
}

TEST(TaskScheduler, FailurePropagatesImpossibleThroughChains) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.submit(spec("a"), t0);
  s.submit(spec("b", {{"after", {"a"}}}), t0);
  s.submit(spec("c", {{"after", {"b"}}}), t0);
  auto r = s.reply("a", "e1", false, true, t0);
  auto fails = only<Fail>(r);
  ASSERT_EQ(fails.size(), 2u);
  EXPECT_EQ(fails[0].msg_id, "b");
  EXPECT_EQ(fails[1].msg_id, "c");
  EXPECT_EQ(s.queued_count(), 0u);
}

TEST(TaskScheduler, InvalidDependency) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  auto a = s.submit(spec("self", {{"after", {"self"}}}), t0);
  ASSERT_EQ(only<Fail>(a).size(), 1u);
  EXPECT_EQ(only<Fail>(a)[0].ename, "InvalidDependency");
  a = s.submit(spec("x", {{"follow", {"never-seen"}}}), t0);
  ASSERT_EQ(only<Fail>(a).size(), 1u);
  EXPECT_EQ(only<Fail>(a)[0].ename, "InvalidDependency");
  a = s.submit(spec("y", {{"after", {1, 2}}}), t0);
  EXPECT_EQ(only<Fail>(a)[0].ename, "InvalidDependency");
  EXPECT_EQ(only<Forget>(a)[0].msg_id, "y");
}

TEST(TaskScheduler, FollowRunsWhereDependencyRan) {
  auto s = make(0);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.engine_registered("e3", t0);
  s.submit(spec("a"), t0);
  const auto ea = *s.running_on("a");
  s.submit(spec("f", {{"follow", {"a"}}}), t0);
  EXPECT_TRUE(s.is_queued("f"));  // follow not met anywhere yet
  auto r = s.reply("a", ea, true, true, t0);
  EXPECT_EQ(dispatches(r), (std::vector<P>{{"f", ea}}));
  // Later follows of a finished task also go there.
  for (int i = 0; i < 3; ++i) {
    auto d = dispatches(s.submit(spec("g" + std::to_string(i), {{"follow", {"a"}}}), t0));
    EXPECT_EQ(d[0].second, ea);
  }
}

TEST(TaskScheduler, FollowSpreadAcrossEnginesIsImpossible) {
  auto s = make(0, Scheme::Lru);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.submit(spec("a"), t0);
  s.submit(spec("b"), t0);
  const auto ea = *s.running_on("a");
  const auto eb = *s.running_on("b");
  ASSERT_NE(ea, eb);
  s.reply("a", ea, true, true, t0);
  s.reply("b", eb, true, true, t0);
  auto r = s.submit(spec("f", {{"follow", {"a", "b"}}}), t0);
  ASSERT_EQ(only<Fail>(r).size(), 1u);
  EXPECT_EQ(only<Fail>(r)[0].ename, "ImpossibleDependency");
}

TEST(TaskScheduler, FollowWaitsWhileTargetEngineBusy) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.submit(spec("a"), t0);
  const auto ea = *s.running_on("a");
  s.reply("a", ea, true, true, t0);
  s.submit(spec("busy", {{"targets", {ea}}}), t0);
  EXPECT_TRUE(dispatches(s.submit(spec("f", {{"follow", {"a"}}}), t0)).empty());
  auto r = s.reply("busy", ea, true, true, t0);
  EXPECT_EQ(dispatches(r), (std::vector<P>{{"f", ea}}));
}

TEST(TaskScheduler, TaskTimeoutWhileQueued) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.submit(spec("run"), t0);
  s.submit(spec("wait", {{"timeout", 2.0}}), t0);
  s.submit(spec("dep", {{"after", {"wait"}}}), t0);
  ASSERT_TRUE(s.next_deadline());
  EXPECT_EQ(*s.next_deadline(), t0 + 2s);
  EXPECT_TRUE(s.tick(t0 + 1s).empty());
  auto a = s.tick(t0 + 2s);
  auto fails = only<Fail>(a);
  ASSERT_EQ(fails.size(), 2u);
  EXPECT_EQ(fails[0].msg_id, "wait");
  EXPECT_EQ(fails[0].ename, "TaskTimeout");
  EXPECT_EQ(fails[1].msg_id, "dep");
  EXPECT_EQ(fails[1].ename, "ImpossibleDependency");
}

TEST(TaskScheduler, RunningTasksNeverTimeOut) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.submit(spec("t", {{"timeout", 1.0}}), t0);
  EXPECT_TRUE(only<Fail>(s.tick(t0 + 10s)).empty());
  EXPECT_EQ(only<Relay>(s.reply("t", "e1", true, true, t0 + 11s)).size(), 1u);
}

TEST(TaskScheduler, EngineDeathFailsAfterGraceAndRetriesElsewhere) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.submit(spec("plain"), t0);
  s.engine_registered("e2", t0);  // after "plain" went to e1
  s.submit(spec("retry", {{"retries", 1}, {"targets", {"e2", "e3"}}}), t0);
  ASSERT_EQ(*s.running_on("retry"), "e2");
  ASSERT_EQ(*s.running_on("plain"), "e1");
  EXPECT_TRUE(s.engine_unregistered("e1", t0).empty());
  EXPECT_TRUE(s.engine_unregistered("e2", t0).empty());
  EXPECT_EQ(s.engine_count(), 0u);
  ASSERT_TRUE(s.next_deadline());
  EXPECT_EQ(*s.next_deadline(), t0 + 5s);
  EXPECT_TRUE(s.tick(t0 + 4s).empty());
  s.engine_registered("e3", t0 + 4s);
  auto a = s.tick(t0 + 5s);
  auto ef = only<EngineFailure>(a);
  ASSERT_EQ(ef.size(), 1u);
  EXPECT_EQ(ef[0].msg_id, "plain");
  EXPECT_EQ(ef[0].engine_uuid, "e1");
  EXPECT_EQ(ef[0].evalue, "Engine 'e1' died while running task 'plain'");
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"retry", "e3"}}));
}

TEST(TaskScheduler, ReplyWithinGraceIsRelayedNormally) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.submit(spec("t"), t0);
  s.engine_unregistered("e1", t0);
  EXPECT_EQ(only<Relay>(s.reply("t", "e1", true, true, t0 + 1s)).size(), 1u);
  EXPECT_TRUE(s.tick(t0 + 6s).empty());
}

TEST(TaskScheduler, BogusRepliesAreIgnored) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.submit(spec("t"), t0);
  const auto e = *s.running_on("t");
  EXPECT_TRUE(s.reply("unknown", e, true, true, t0).empty());
  EXPECT_TRUE(s.reply("t", e == "e1" ? "e2" : "e1", true, true, t0).empty());
  EXPECT_EQ(only<Relay>(s.reply("t", e, true, true, t0)).size(), 1u);
  EXPECT_TRUE(s.reply("t", e, true, true, t0).empty());  // duplicate
  EXPECT_TRUE(s.submit(spec("t"), t0).empty());          // duplicate msg_id
}

TEST(TaskScheduler, ThroughputSmoke) {
  for (int hwm : {1, 0}) {
    auto s = make(hwm);
    const int engines = 16;
    const int tasks = 100000;
    for (int e = 0; e < engines; ++e) s.engine_registered("engine-" + std::to_string(e), t0);
    std::vector<std::string> ids;
    ids.reserve(tasks);
    for (int i = 0; i < tasks; ++i) ids.push_back("task-" + std::to_string(i));
    std::deque<std::pair<std::string, std::string>> running;
    std::size_t relayed = 0;
    std::map<std::string, int> per_engine;
    const auto start = std::chrono::steady_clock::now();
    auto absorb = [&](const Actions& a) {
      for (const auto& x : a) {
        if (auto d = std::get_if<Dispatch>(&x)) {
          running.emplace_back(d->msg_id, d->engine_uuid);
          ++per_engine[d->engine_uuid];
        } else if (std::holds_alternative<Relay>(x)) {
          ++relayed;
        }
      }
    };
    for (int i = 0; i < tasks; ++i) absorb(s.submit(spec(ids[i]), t0));
    while (!running.empty()) {
      auto [m, e] = running.front();
      running.pop_front();
      absorb(s.reply(m, e, true, true, t0));
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(relayed, static_cast<std::size_t>(tasks));
    EXPECT_EQ(s.queued_count(), 0u);
    EXPECT_EQ(s.running_count(), 0u);
    EXPECT_EQ(per_engine.size(), static_cast<std::size_t>(engines));
    for (const auto& [e, n] : per_engine) EXPECT_NEAR(n, tasks / engines, tasks / engines / 10);
    std::printf("[ rate     ] hwm=%d: %d tasks over %d engines in %.3f s = %.0f tasks/s\n", hwm,
                tasks, engines, secs, tasks / secs);
  }
}

TEST(TaskScheduler, FinishedIdsStayBounded) {
  TaskScheduler::Options o;
  o.finished_limit = 10;
  TaskScheduler s(o);
  s.engine_registered("e", t0);
  for (int i = 0; i < 100; ++i) {
    std::string id = "t" + std::to_string(i);
    auto a = s.submit(spec(id), t0);
    ASSERT_EQ(dispatches(a), (std::vector<P>{{id, "e"}}));
    s.reply(id, "e", true, true, t0);
  }
  EXPECT_LE(s.known_task_count(), 10u);
  // A recent id is still a valid dependency; a forgotten one is like an unknown id.
  auto recent = s.submit(spec("late", Json{{"after", Json::array({"t99"})}}), t0);
  EXPECT_EQ(dispatches(recent), (std::vector<P>{{"late", "e"}}));
  s.reply("late", "e", true, true, t0);
  auto old = s.submit(spec("stale", Json{{"after", Json::array({"t0"})}}), t0);
  auto fails = only<Fail>(old);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].ename, "InvalidDependency");
}

TEST(TaskScheduler, LostEngineTasksAreRetriedOrFailedAtOnce) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  auto d1 = dispatches(s.submit(spec("retry", {{"retries", 1}}), t0));
  auto d2 = dispatches(s.submit(spec("fail"), t0));
  ASSERT_EQ(d1.size(), 1u);
  ASSERT_EQ(d2.size(), 1u);
  const std::string dead = d1[0].second;
  const std::string alive = dead == "e1" ? "e2" : "e1";
  ASSERT_EQ(d2[0].second, alive);
  // The engine holding "retry" dies: at once, no grace, no tick needed.
  auto a = s.engine_unregistered(dead, t0, /*lost=*/true);
  EXPECT_TRUE(only<EngineFailure>(a).empty());
  EXPECT_TRUE(s.is_queued("retry"));  // waits for room on the survivor
  EXPECT_FALSE(s.next_deadline().has_value());
  // A late reply from the dead engine is ignored; the survivor runs the retry.
  EXPECT_TRUE(s.reply("retry", dead, true, true, t0).empty());
  a = s.reply("fail", alive, true, true, t0);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"retry", alive}}));
  // Without retries the task fails as EngineError at once when its engine is lost.
  auto d3 = dispatches(s.submit(spec("noretry"), t0));
  a = s.engine_unregistered(alive, t0, /*lost=*/true);
  auto ef = only<EngineFailure>(a);
  ASSERT_EQ(ef.size(), 1u);
  EXPECT_EQ(ef[0].msg_id, "retry");  // its retry budget is spent
  EXPECT_TRUE(s.is_queued("noretry"));  // never dispatched: still waits for an engine
}

TEST(TaskScheduler, UnregisteredEngineTasksWaitForTheGrace) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  auto d = dispatches(s.submit(spec("t"), t0));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(only<EngineFailure>(s.engine_unregistered("e1", t0)).empty());
  ASSERT_TRUE(s.next_deadline().has_value());
  EXPECT_EQ(*s.next_deadline(), t0 + 5s);
  EXPECT_EQ(only<EngineFailure>(s.tick(t0 + 5s)).size(), 1u);
}

TEST(TaskScheduler, RestoredWaitingTasksQueueAndRunWhenEnginesCome) {
  auto s = make(1);
  // Read back after a restart: "b" depended on "a" (also restored) and on "gone" (finished
  // before the crash, unknown now).
  EXPECT_TRUE(s.restore(spec("a"), "", t0).empty());
  EXPECT_TRUE(s.restore(spec("b", {{"after", Json::array({"a", "gone"})}}), "", t0).empty());
  EXPECT_TRUE(s.is_queued("a"));
  EXPECT_TRUE(s.is_queued("b"));
  auto a = s.engine_registered("e1", t0);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"a", "e1"}}));
  a = s.reply("a", "e1", true, true, t0);
  EXPECT_EQ(only<Relay>(a).size(), 1u);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"b", "e1"}}));  // "gone" no longer holds it back
}

TEST(TaskScheduler, RestoredRunningTasksFinishOnTheirEngine) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  // "r" was running on e1 when the controller died: no new Dispatch, and e1 is busy.
  EXPECT_TRUE(dispatches(s.restore(spec("r"), "e1", t0)).empty());
  EXPECT_EQ(s.running_on("r"), std::optional<std::string>("e1"));
  EXPECT_EQ(s.load("e1"), 1);
  EXPECT_EQ(dispatches(s.submit(spec("new"), t0)), (std::vector<P>{{"new", "e2"}}));
  auto a = s.reply("r", "e1", true, true, t0);
  ASSERT_EQ(only<Relay>(a).size(), 1u);
  EXPECT_EQ(only<Relay>(a)[0].msg_id, "r");
  EXPECT_EQ(s.load("e1"), 0);
}

TEST(TaskScheduler, RestoredTasksOfADeadEngineAreRetriedOrFailed) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  // Both ran on "dead", which did not come back: the one with retries goes to e1, the other
  // fails as EngineError at once.
  auto a = s.restore(spec("retry", {{"retries", 1}}), "dead", t0);
  EXPECT_EQ(dispatches(a), (std::vector<P>{{"retry", "e1"}}));
  a = s.restore(spec("noretry"), "dead", t0);
  auto ef = only<EngineFailure>(a);
  ASSERT_EQ(ef.size(), 1u);
  EXPECT_EQ(ef[0].msg_id, "noretry");
  EXPECT_EQ(ef[0].engine_uuid, "dead");
  // A restored engine that does not answer the heartbeat is unregistered later: its restored
  // task is failed then, like any task of a lost engine.
  s.engine_registered("e2", t0);
  EXPECT_TRUE(s.restore(spec("on-e2"), "e2", t0).empty());
  ef = only<EngineFailure>(s.engine_unregistered("e2", t0, /*lost=*/true));
  ASSERT_EQ(ef.size(), 1u);
  EXPECT_EQ(ef[0].msg_id, "on-e2");
}

TEST(TaskScheduler, ReplyToARestoredWaitingTaskIsAccepted) {
  // Restored as waiting because its destination never reached the store, but an engine had it:
  auto s3 = make(1);
  s3.engine_registered("e1", t0);
  s3.restore(spec("busy"), "e1", t0);
  s3.restore(spec("late"), "", t0);  // queued behind "busy"
  ASSERT_TRUE(s3.is_queued("late"));
  auto a = s3.reply("late", "e1", true, true, t0);  // e1 had run it before the crash
  ASSERT_EQ(only<Relay>(a).size(), 1u);
  EXPECT_EQ(only<Relay>(a)[0].msg_id, "late");
  EXPECT_FALSE(s3.is_queued("late"));
  // A reply to an ordinary queued task is still ignored.
  auto s4 = make(1);
  s4.engine_registered("e1", t0);
  s4.submit(spec("one"), t0);
  s4.submit(spec("two"), t0);
  EXPECT_TRUE(s4.reply("two", "e1", true, true, t0).empty());
}

TEST(CheckTaskRequest, RefusesWhatIsNotATask) {
  EXPECT_FALSE(check_task_request("apply_request", Json::object()));
  EXPECT_FALSE(check_task_request("execute_request", Json::object()));
  // What Python's clients send.
  EXPECT_FALSE(check_task_request("apply_request", Json{{"targets", Json::array({"u1", "u2"})},
                                                        {"retries", 2},
                                                        {"timeout", nullptr},
                                                        {"after", Json::array()},
                                                        {"follow", Json::array()}}));
  EXPECT_FALSE(check_task_request("apply_request", Json{{"timeout", 2.5}, {"targets", "u1"}}));
  auto e = check_task_request("frobnicate_request", Json::object());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ename, "ValueError");
  EXPECT_NE(e->evalue.find("'frobnicate_request'"), std::string::npos);
  struct Case {
    Json md;
    const char* ename;
    const char* says;
  };
  for (const auto& c : std::vector<Case>{
           {Json{{"targets", 5}}, "TypeError", "'targets' must be a list of engine uuids, not number"},
           {Json{{"targets", Json::array({"u", 1})}}, "TypeError", "'targets'"},
           {Json{{"retries", -1}}, "ValueError", "'retries' must be >= 0, not -1"},
           {Json{{"retries", "3"}}, "TypeError", "'retries' must be an integer, not string"},
           {Json{{"retries", 1.5}}, "TypeError", "'retries'"},
           {Json{{"timeout", "soon"}}, "TypeError", "'timeout' must be a number of seconds"},
           {Json{{"timeout", -2}}, "ValueError", "'timeout' must be >= 0"},
           {Json{{"timeout", true}}, "TypeError", "not boolean"}}) {
    auto err = check_task_request("apply_request", c.md);
    ASSERT_TRUE(err) << c.md.dump();
    EXPECT_EQ(err->ename, c.ename) << c.md.dump();
    EXPECT_NE(err->evalue.find(c.says), std::string::npos) << err->evalue;
  }
}

// Retirement of adaptive engines: a draining engine takes no new task, finishes what it holds,
// and can be put back in service.
TEST(TaskScheduler, ADrainingEngineFinishesItsTaskAndGetsNoOther) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  auto a = dispatches(s.submit(spec("t1"), t0));
  ASSERT_EQ(a.size(), 1u);
  const std::string first = a[0].second, other = first == "e1" ? "e2" : "e1";
  EXPECT_TRUE(s.drain_engine(first, t0).empty());
  EXPECT_TRUE(s.is_draining(first));
  // the next tasks go to the other engine only, then wait
  EXPECT_EQ(dispatches(s.submit(spec("t2"), t0)), (std::vector<P>{{"t2", other}}));
  EXPECT_TRUE(dispatches(s.submit(spec("t3"), t0)).empty());
  // the draining engine's reply is relayed; its freed slot takes nothing
  auto r = s.reply("t1", first, true, true, t0 + 1s);
  ASSERT_EQ(only<Relay>(r).size(), 1u);
  EXPECT_TRUE(dispatches(r).empty());
  EXPECT_EQ(s.load(first), 0);
  EXPECT_EQ(dispatches(s.reply("t2", other, true, true, t0 + 2s)), (std::vector<P>{{"t3", other}}));
}

TEST(TaskScheduler, AnUndrainedEngineTakesTheWaitingWork) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.drain_engine("e1", t0);
  EXPECT_TRUE(dispatches(s.submit(spec("t1"), t0)).empty());
  EXPECT_EQ(s.queued_count(), 1u);
  EXPECT_EQ(dispatches(s.undrain_engine("e1", t0)), (std::vector<P>{{"t1", "e1"}}));
  EXPECT_FALSE(s.is_draining("e1"));
  // twice, and unknown engines: nothing happens
  EXPECT_TRUE(s.undrain_engine("e1", t0).empty());
  EXPECT_TRUE(s.drain_engine("nobody", t0).empty());
}

TEST(TaskScheduler, TasksTargetingADrainingEngineFailWhenItLeaves) {
  auto s = make(1);
  s.engine_registered("e1", t0);
  s.engine_registered("e2", t0);
  s.drain_engine("e1", t0);
  EXPECT_TRUE(dispatches(s.submit(spec("t1", Json{{"targets", Json::array({"e1"})}}), t0)).empty());
  auto gone = s.engine_unregistered("e1", t0 + 1s);
  auto fails = only<Fail>(gone);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].ename, "ImpossibleDependency");
  // the remaining engine still has its room counted
  EXPECT_EQ(dispatches(s.submit(spec("t2"), t0 + 2s)), (std::vector<P>{{"t2", "e2"}}));
}
