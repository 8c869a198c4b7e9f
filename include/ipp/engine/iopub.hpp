#pragma once
// IopubPublisher: the engine's IOPub PUB socket and the thread that owns it.
//
// Every other thread hands it messages (publish) or stream text (write_stream); they are signed
// and sent in the order they were handed over, so outputs keep their order relative to status
// and display messages. A message handed over while nothing is queued or being sent is signed
// and sent at once on the caller's thread, holding the lock (libzmq allows a socket to move
// between threads across a full memory barrier): the busy/idle status around each request then
// costs no thread wake-up and no hop. Stream text is buffered and published on a newline (at
// most every `min_interval`), after `flush_interval` for a partial line, when over 1 MiB, and on
// request (flush_streams_and_wait before a reply). Never touches Python.
//
// Created by the Engine after registration (the topics need the engine id); start() spawns the
// thread; stop() publishes what is still queued and joins. Lives until the engine stops.
#include <ipp/engine/kernel.hpp>
#include <ipp/engine/stream_buffer.hpp>
#include <ipp/net/curve.hpp>
#include <ipp/net/reactor.hpp>
#include <ipp/wire/session.hpp>

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace ipp::engine {

class IopubPublisher final : public Publisher {
 public:
  struct Settings {
    std::string url;
    wire::SessionConfig session;
    EngineIdentity engine;
    std::chrono::milliseconds flush_interval{200};  // ipykernel OutStream.flush_interval
    std::chrono::milliseconds min_interval{50};
    std::chrono::milliseconds linger{3000};
    std::optional<net::CurveClientKeys> curve;  // CurveZMQ client keys
  };

  IopubPublisher(zmq::context_t& context, Settings settings, MsgIds& ids);
  ~IopubPublisher() override;
  IopubPublisher(const IopubPublisher&) = delete;
  IopubPublisher& operator=(const IopubPublisher&) = delete;

  void start();
  void stop();

  // Publisher (any thread)
  void publish(std::string topic, std::string msg_type, wire::Json content, wire::Json parent,
               wire::Json metadata, wire::Frames buffers = {}) override;
  void set_parent(const wire::Json& parent) override;
  // Before a reply: output of the request (streams, display, errors) is published first. Waits
  // only when there is output; status messages go out in order without a wait.
  void flush_streams_and_wait() override;

  // Stream text (any thread; called with the GIL held, so it only appends and maybe posts).
  void write_stream(std::string_view name, std::string_view text);
  // sys.stdout.flush(): publish what is buffered soon, without waiting.
  void request_flush();

  std::uint64_t sent() const { return sent_.load(); }

 private:
  struct Outgoing {
    std::string topic;
    std::string msg_type;
    wire::Json content;
    std::shared_ptr<const wire::Json> parent;
    wire::Json metadata;
    wire::Frames buffers;
  };

  void run();
  void move_streams_locked();
  void post_drain_locked();
  void drain();
  void send_batch(std::deque<Outgoing>& batch);
  void send_one(Outgoing& item);
  const std::string& packed_parent(const std::shared_ptr<const wire::Json>& parent);
  void flush_now();
  void flush_soon();
  void arm_timer(std::chrono::steady_clock::time_point due);

  zmq::context_t& context_;
  Settings settings_;
  MsgIds& ids_;
  net::Reactor reactor_{"iopub"};
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> sent_{0};

  // guarded by mutex_
  std::mutex mutex_;
  StreamBuffer streams_;
  std::deque<Outgoing> queue_;
  std::shared_ptr<const wire::Json> parent_;
  bool drain_posted_ = false;
  // output messages (anything but status) queued or being sent: flush_streams_and_wait waits
  // for them, and returns at once when there are none
  std::size_t output_pending_ = 0;
  bool urgent_posted_ = false;
  bool timer_posted_ = false;
  // the IOPub thread is sending a batch taken from queue_ (and owns socket_ and session_)
  bool in_flight_ = false;
  // socket_ and session_ exist and may be used by a publisher holding mutex_ when nothing is in
  // flight
  bool open_ = false;

  // The IOPub thread's, except as above
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<wire::Session> session_;
  // the parent header last packed, and its text (owned like socket_)
  std::shared_ptr<const wire::Json> packed_for_;
  std::string packed_parent_;
  std::chrono::steady_clock::time_point last_flush_{};
  net::Reactor::TimerId timer_ = 0;
  std::chrono::steady_clock::time_point timer_due_{};
};

// Blocks SIGINT (and only it) in the calling thread: SIGINT is for the interpreter's main thread
// (KeyboardInterrupt in a running task), so helper threads must never receive it.
void block_sigint_in_this_thread();

}  // namespace ipp::engine
