#include "controller/hub/engine_registry.hpp"
#include "controller/hub/engine_state_file.hpp"
#include "controller/hub/task_ledger.hpp"

#include <gtest/gtest.h>

#include <chrono>

using ipp::TimePoint;
using ipp::controller::hub::Departure;
using ipp::controller::hub::EngineRegistry;
using ipp::controller::hub::EngineState;
using ipp::controller::hub::TaskLedger;
using Kind = EngineRegistry::Event::Kind;
using namespace std::chrono_literals;

namespace {

const TimePoint t0{};

EngineRegistry make(int max_misses = 2) {
  EngineRegistry::Options o;
  o.period = 1s;
  o.max_misses = max_misses;
  o.registration_timeout = 30s;
  return EngineRegistry(o, t0);
}

// Registers `uuid` and answers the current ping on connection `fd`; returns its id.
int join(EngineRegistry& r, const std::string& uuid, int fd, TimePoint now,
         std::optional<int> want = std::nullopt) {
  auto a = r.admit(uuid, want, now);
  EXPECT_TRUE(a.error.empty());
  EXPECT_TRUE(a.events.empty());
  r.connection_seen(uuid, fd);
  auto ev = r.pong(uuid, r.current_ping(), now);
  EXPECT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev.at(0).kind, Kind::Registered);
  EXPECT_EQ(ev.at(0).id, a.id);
  return a.id;
}

}  // namespace

TEST(EngineRegistry, RegistrationCompletesOnTheFirstHeartbeatAnswer) {
  auto r = make();
  auto a = r.admit("e0", std::nullopt, t0);
  EXPECT_EQ(a.id, 0);
  EXPECT_TRUE(r.has_pending_registrations());
  EXPECT_EQ(r.engines().size(), 0u);  // not before its heart answers
  auto ev = r.pong("e0", "garbage", t0);
  EXPECT_TRUE(ev.empty());
  ev = r.pong("e0", r.current_ping(), t0 + 10ms);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Registered);
  EXPECT_EQ(ev[0].uuid, "e0");
  EXPECT_EQ(r.engines().at(0).registered_at, t0 + 10ms);
  EXPECT_EQ(r.id_of("e0"), 0);
  EXPECT_FALSE(r.has_pending_registrations());
  EXPECT_TRUE(r.pong("e0", r.current_ping(), t0 + 20ms).empty());  // once
}

TEST(EngineRegistry, HeartThatAnsweredBeforeRegisteringCompletesAtOnce) {
  auto r = make();
  EXPECT_TRUE(r.pong("e0", r.current_ping(), t0).empty());
  auto a = r.admit("e0", std::nullopt, t0);
  ASSERT_EQ(a.events.size(), 1u);
  EXPECT_EQ(a.events[0].kind, Kind::Registered);
}

TEST(EngineRegistry, RequestedIdsAndUuidsInUse) {
  auto r = make();
  EXPECT_EQ(join(r, "a", 10, t0, 5), 5);
  auto b = r.admit("b", 5, t0);  // taken: the next one
  EXPECT_TRUE(b.id_changed);
  EXPECT_EQ(b.id, 6);
  auto c = r.admit("c", -3, t0);  // negative: refused quietly, the next one
  EXPECT_EQ(c.id, 7);
  auto again = r.admit("a", std::nullopt, t0);
  EXPECT_EQ(again.error, "uuid 'a' in use");
  auto pending_again = r.admit("b", std::nullopt, t0);
  EXPECT_FALSE(pending_again.error.empty());
  EXPECT_EQ(r.admit("d", 6, t0).id, 8);  // a pending registration holds its id too
}

TEST(EngineRegistry, SilentHeartFailsAfterMaxMissesPlusOnePeriods) {
  auto r = make(/*max_misses=*/2);
  TimePoint now = t0;
  join(r, "e0", 10, now);
  join(r, "e1", 11, now);
  for (int beat = 1; beat <= 3; ++beat) {
    now += 1s;
    auto b = r.beat(now);
    ASSERT_TRUE(b.events.empty()) << "beat " << beat;
    EXPECT_FALSE(b.ping.empty());
    r.pong("e1", b.ping, now);  // e1 keeps answering, e0 is silent
  }
  now += 1s;
  auto b = r.beat(now);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].kind, Kind::Unregistered);
  EXPECT_EQ(b.events[0].uuid, "e0");
  EXPECT_EQ(b.events[0].why, Departure::HeartFailure);
  EXPECT_FALSE(r.id_of("e0"));
  EXPECT_TRUE(r.id_of("e1"));
  // Its connection is forgotten: the descriptor closing later reports nothing.
  EXPECT_TRUE(r.connection_lost(10, now).empty());
}

TEST(EngineRegistry, ClosedConnectionUnregistersItsEngineAtOnce) {
  auto r = make();
  join(r, "e0", 10, t0);
  join(r, "e1", 11, t0);
  EXPECT_TRUE(r.connection_lost(99, t0).empty());  // not an engine's
  auto ev = r.connection_lost(11, t0 + 1ms);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Unregistered);
  EXPECT_EQ(ev[0].id, 1);
  EXPECT_EQ(ev[0].why, Departure::ConnectionLost);
  EXPECT_FALSE(r.hearts().is_known("e1"));
  EXPECT_TRUE(r.connection_lost(11, t0 + 2ms).empty());  // reported once
  EXPECT_EQ(r.engines().size(), 1u);
}

TEST(EngineRegistry, ReusedDescriptorBelongsToTheNewEngine) {
  auto r = make();
  join(r, "old", 10, t0);
  // The hub reads the close of "old" before it records "new" on the same descriptor ...
  ASSERT_TRUE(r.connection_is_new("new", 10));
  auto ev = r.connection_lost(10, t0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].uuid, "old");
  join(r, "new", 10, t0 + 1ms);
  // ... so the next close of descriptor 10 is the new engine's.
  ev = r.connection_lost(10, t0 + 2ms);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].uuid, "new");
}

TEST(EngineRegistry, EngineThatReconnectsKeepsOnlyItsNewConnection) {
  auto r = make();
  join(r, "e0", 10, t0);
  EXPECT_TRUE(r.connection_is_new("e0", 12));
  r.connection_seen("e0", 12);
  EXPECT_FALSE(r.connection_is_new("e0", 12));
  EXPECT_TRUE(r.connection_lost(10, t0).empty());  // the old one closing is no news
  EXPECT_EQ(r.connection_lost(12, t0).size(), 1u);
}

TEST(EngineRegistry, ClosedConnectionCancelsAPendingRegistration) {
  auto r = make();
  r.admit("e0", std::nullopt, t0);
  r.connection_seen("e0", 10);  // its heart connected, the answer was not valid yet
  auto ev = r.connection_lost(10, t0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Purged);
  EXPECT_FALSE(r.has_pending_registrations());
}

TEST(EngineRegistry, StalledRegistrationIsPurgedAfterTheTimeout) {
  auto r = make(/*max_misses=*/100);
  auto a = r.admit("e0", std::nullopt, t0);
  EXPECT_TRUE(r.beat(t0 + 29s).events.empty());
  auto b = r.beat(t0 + 30s);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].kind, Kind::Purged);
  EXPECT_EQ(b.events[0].id, a.id);
  EXPECT_FALSE(r.has_pending_registrations());
}

TEST(EngineRegistry, UnregistrationRequestAndCancelledRegistration) {
  auto r = make();
  join(r, "e0", 10, t0);
  auto ev = r.unregister(0, Departure::Requested);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].why, Departure::Requested);
  EXPECT_TRUE(r.unregister(0, Departure::Requested).empty());
  auto a = r.admit("e1", std::nullopt, t0);
  ev = r.unregister(a.id, Departure::Requested);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, Kind::Purged);
  EXPECT_TRUE(r.pong("e1", r.current_ping(), t0).empty());  // no registration completes
}

TEST(EngineRegistry, RestoredEnginesKeepTheirIdsAndMustAnswer) {
  auto r = make(/*max_misses=*/1);
  EngineState saved;
  saved.engines = {{0, "alive"}, {3, "dead"}};
  saved.next_id = 7;
  r.restore(saved, t0);
  EXPECT_EQ(r.engines().size(), 2u);
  EXPECT_EQ(r.id_of("dead"), 3);
  TimePoint now = t0;
  std::vector<EngineRegistry::Event> gone;
  for (int i = 0; i < 3; ++i) {
    now += 1s;
    auto b = r.beat(now);
    EXPECT_TRUE(r.pong("alive", b.ping, now).empty());  // known already: no new registration
    gone.insert(gone.end(), b.events.begin(), b.events.end());
  }
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].uuid, "dead");
  EXPECT_EQ(gone[0].why, Departure::HeartFailure);
  EXPECT_EQ(r.id_of("alive"), 0);
  EXPECT_EQ(r.admit("new", std::nullopt, now).id, 7);  // ids continue after next_id
  EXPECT_EQ(r.snapshot().engines, (std::map<int, std::string>{{0, "alive"}}));
}

TEST(EngineStateFile, RoundTripAndBadEntries) {
  EngineState s;
  s.engines = {{0, "a"}, {12, "b"}};
  s.next_id = 13;
  auto text = ipp::controller::hub::dump_engine_state(s);
  EXPECT_EQ(text, R"({"engines":{"0":"a","12":"b"},"next_id":13})");
  auto back = ipp::controller::hub::parse_engine_state(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state.engines, s.engines);
  EXPECT_EQ(back->state.next_id, 13);
  auto bad = ipp::controller::hub::parse_engine_state(
      R"({"engines":{"x":"a","1":5,"2":"ok","3y":"z"},"next_id":"no"})");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->state.engines, (std::map<int, std::string>{{2, "ok"}}));
  EXPECT_EQ(bad->bad_entries.size(), 3u);
  EXPECT_EQ(bad->state.next_id, 0);
  EXPECT_FALSE(ipp::controller::hub::parse_engine_state("not json"));
  EXPECT_FALSE(ipp::controller::hub::parse_engine_state("[1]"));
}

TEST(TaskLedger, DirectAndLoadBalancedTasksPerEngine) {
  TaskLedger l(TaskLedger::Options{2, 3});
  l.engine_added(0);
  l.engine_added(1);
  l.request_direct("d1", 0);
  l.request_direct("d2", 0);
  l.request_direct("x", std::nullopt);  // to an engine the hub does not know: pending only
  l.request_task("t1");
  EXPECT_EQ(l.unassigned().size(), 1u);
  l.assign("t1", 1);
  EXPECT_TRUE(l.unassigned().empty());
  EXPECT_EQ(l.engine(1)->tasks.count("t1"), 1u);
  l.assign("t1", 0);  // retried elsewhere: it moves
  EXPECT_EQ(l.engine(1)->tasks.count("t1"), 0u);
  EXPECT_EQ(l.engine(0)->tasks.count("t1"), 1u);
  EXPECT_EQ(l.engine(0)->queue.size(), 2u);
  EXPECT_EQ(l.pending_count(), 4u);
  l.complete("t1", 1);  // the ledger knows where it went: engine 0
  EXPECT_EQ(l.engine(0)->completed, 1u);
  EXPECT_EQ(l.engine(1)->completed, 0u);
  EXPECT_TRUE(l.recently_completed("t1"));
  EXPECT_FALSE(l.is_pending("t1"));
  // Engine 0 goes: its direct requests without a result are stranded.
  auto stranded = l.engine_removed(0);
  EXPECT_EQ(stranded, (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ(l.engine(0), nullptr);
  EXPECT_TRUE(l.is_pending("d1"));
  l.complete("d1", std::nullopt);
  EXPECT_FALSE(l.is_pending("d1"));
}

TEST(TaskLedger, CompletedWindowAndRecentListAreBounded) {
  TaskLedger l(TaskLedger::Options{/*recent=*/2, /*window=*/3});
  l.engine_added(0);
  for (std::string id : {"a", "b", "c", "d"}) {
    l.request_direct(id, 0);
    l.complete(id, std::nullopt);
  }
  EXPECT_FALSE(l.recently_completed("a"));  // beyond the window: asked of the store
  EXPECT_TRUE(l.recently_completed("d"));
  EXPECT_EQ(l.engine(0)->completed, 4u);
  EXPECT_EQ(l.engine(0)->recent, (std::deque<std::string>{"c", "d"}));
}
