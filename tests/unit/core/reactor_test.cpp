// Reactor tests over real inproc sockets: socket readiness, timers, cross-thread post(), removal
// of a handler by another handler, and exceptions that must not stop the loop.
#include <ipp/net/frames_io.hpp>
#include <ipp/net/reactor.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace ipp::net {
namespace {

TEST(Reactor, DeliversSocketMessagesAndStops) {
  zmq::context_t ctx;
  zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
  pull.bind("inproc://reactor-test");
  push.connect("inproc://reactor-test");
  Reactor r("test");
  int got = 0;
  r.add(pull, [&] {
    wire::Frames f;
    while (recv_frames(pull, f)) {
      ++got;
      if (got == 3) r.stop();
    }
  });
  for (int i = 0; i < 3; ++i) push.send(zmq::str_buffer("x"));
  r.run();
  EXPECT_EQ(got, 3);
}

TEST(Reactor, TimersFireInOrderAndRepeat) {
  Reactor r("test");
  std::vector<int> order;
  int ticks = 0;
  r.call_later(std::chrono::milliseconds(30), [&] { order.push_back(2); });
  r.call_later(std::chrono::milliseconds(10), [&] { order.push_back(1); });
  auto cancelled = r.call_later(std::chrono::milliseconds(20), [&] { order.push_back(99); });
  r.cancel(cancelled);
  r.call_every(std::chrono::milliseconds(5), [&] {
    if (++ticks == 10) r.stop();
  });
  r.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(ticks, 10);
}

TEST(Reactor, PostFromAnotherThread) {
  Reactor r("test");
  std::atomic<int> seen{0};
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) r.post([&] { ++seen; });
    r.post([&] { r.stop(); });
  });
  r.run();
  t.join();
  EXPECT_EQ(seen.load(), 100);
}

TEST(Reactor, HandlerExceptionsDoNotStopTheLoop) {
  Reactor r("test");
  int after = 0;
  r.post([] { throw std::runtime_error("boom"); });
  r.call_later(std::chrono::milliseconds(1), [] { throw 42; });
  r.call_later(std::chrono::milliseconds(5), [&] {
    ++after;
    r.stop();
  });
  r.run();
  EXPECT_EQ(after, 1);
}

TEST(Reactor, HandlerRemovedByAnotherIsNotCalled) {
  zmq::context_t ctx;
  zmq::socket_t a(ctx, zmq::socket_type::pull), b(ctx, zmq::socket_type::pull);
  zmq::socket_t pa(ctx, zmq::socket_type::push), pb(ctx, zmq::socket_type::push);
  a.bind("inproc://ra");
  b.bind("inproc://rb");
  pa.connect("inproc://ra");
  pb.connect("inproc://rb");
  pa.send(zmq::str_buffer("x"));
  pb.send(zmq::str_buffer("y"));
  Reactor r("test");
  int calls = 0;
  r.add(a, [&] {
    ++calls;
    r.remove(a);
    r.remove(b);
    r.call_later(std::chrono::milliseconds(20), [&] { r.stop(); });
  });
  r.add(b, [&] {
    ++calls;
    r.remove(a);
    r.remove(b);
    r.call_later(std::chrono::milliseconds(20), [&] { r.stop(); });
  });
  r.run();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ipp::net
