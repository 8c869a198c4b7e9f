#pragma once
// Reactor: one event loop per thread over zmq::poll, with zmq sockets, raw file descriptors
// (signalfd, pidfd, pipes), timers and a cross-thread post() queue.
//
// Owned by the thread that calls run(); every method except post() and stop() must be called
// on that thread. Handlers never let an exception escape: it is logged and the loop goes on.
#include <ipp/util/log_tally.hpp>
#include <ipp/util/clock.hpp>

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ipp::net {

class Reactor {
 public:
  using Handler = std::function<void()>;
  using TimerId = std::uint64_t;

  explicit Reactor(std::string name = "reactor");
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // Calls `on_readable` whenever `socket` has messages (the handler should drain what it wants;
  // zmq sockets are edge-like, so handlers usually loop with dontwait until EAGAIN).
  void add(zmq::socket_t& socket, Handler on_readable);
  void remove(zmq::socket_t& socket);
  void add_fd(int fd, Handler on_readable);
  void remove_fd(int fd);

  // Timers run on the reactor thread. A repeating timer keeps its cadence (next = due + period).
  TimerId call_later(Duration delay, Handler fn);
  TimerId call_every(Duration period, Handler fn);
  void cancel(TimerId id);

  // Thread-safe: runs `fn` on the reactor thread soon.
  void post(Handler fn);

  // Blocks the calling thread (SIGINT/SIGTERM etc.) and delivers them through a signalfd to
  // `fn`. Call before other threads are started so they inherit the mask.
  void on_signal(int signo, std::function<void(int)> fn);

  void run();
  // Thread-safe: run() returns after the current iteration.
  void stop();
  bool running() const { return running_; }
  const std::string& name() const { return name_; }

 private:
  struct Item {
    zmq::socket_t* socket = nullptr;
    int fd = -1;
    Handler handler;
    std::uint64_t key = 0;  // unique, so a handler removed mid-iteration is not called
  };
  struct Timer {
    TimePoint due;
    Duration period{};
    bool repeat = false;
    Handler fn;
  };
  void rebuild_items();
  void run_timers();
  void drain_posted();
  void handle_signals();
  void safely(const char* what, const Handler& fn);
  void report_failure(const char* what, const std::string& why);

  std::string name_;
  std::vector<Item> items_;
  std::vector<zmq::pollitem_t> poll_items_;
  bool dirty_ = true;
  std::uint64_t next_key_ = 1;
  std::map<TimerId, Timer> timers_;
  TimerId next_timer_ = 1;
  int wake_fd_ = -1;
  int signal_fd_ = -1;
  std::map<int, std::function<void(int)>> signal_handlers_;
  std::mutex posted_mutex_;
  std::vector<Handler> posted_;
  volatile bool running_ = false;
  bool stop_requested_ = false;
  // Handlers that throw, counted per kind of handler (a throwing handler may throw for every
  // message of a storm); made at the first failure.
  std::unique_ptr<log::Tally> failures_;
};

}  // namespace ipp::net
