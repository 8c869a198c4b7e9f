#include <ipp/engine/iopub.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/util/log.hpp>
#include <ipp/wire/msg_types.hpp>

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <future>
#include <utility>

namespace ipp::engine {

using wire::Json;
using Clock = std::chrono::steady_clock;

void block_sigint_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

IopubPublisher::IopubPublisher(zmq::context_t& context, Settings settings, MsgIds& ids)
    : context_(context), settings_(std::move(settings)), ids_(ids) {
  parent_ = std::make_shared<const Json>(Json::object());
}

IopubPublisher::~IopubPublisher() { stop(); }

void IopubPublisher::start() {
  // the socket is created on the thread that uses it; connect errors surface here
  std::promise<void> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, &ready] {
    block_sigint_in_this_thread();
    try {
      session_ = std::make_unique<wire::Session>(settings_.session);
      socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pub);
      socket_->set(zmq::sockopt::sndhwm, 0);  // as IPEngine: never drop output
      socket_->set(zmq::sockopt::linger, static_cast<int>(settings_.linger.count()));
      socket_->set(zmq::sockopt::routing_id, settings_.engine.uuid);
      net::set_curve_client(*socket_, settings_.curve);
      socket_->connect(settings_.url);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    running_ = true;
    ready.set_value();
    run();
  });
  try {
    started.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

void IopubPublisher::stop() {
  if (!thread_.joinable()) return;
  reactor_.post([this] {
    flush_now();
    reactor_.stop();
  });
  thread_.join();
}

void IopubPublisher::run() {
  reactor_.run();
  {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  running_ = false;
  drain();  // anything handed over after the last drain
  socket_.reset();
  session_.reset();
}

void IopubPublisher::publish(std::string topic, std::string msg_type, Json content, Json parent,
                             Json metadata, wire::Frames buffers) {
  std::shared_ptr<const Json> p;
  if (!parent.is_null()) p = std::make_shared<const Json>(std::move(parent));
  std::lock_guard lock(mutex_);
  move_streams_locked();
  if (!p) p = parent_;  // null: the request running now
  Outgoing item{std::move(topic), std::move(msg_type), std::move(content), std::move(p),
                std::move(metadata), std::move(buffers)};
  if (open_ && queue_.empty() && !in_flight_) {
    send_one(item);  // nothing ahead of it
    return;
  }
  if (item.msg_type != wire::msg::kStatus) ++output_pending_;
  queue_.push_back(std::move(item));
  post_drain_locked();
}

void IopubPublisher::set_parent(const Json& parent) {
  auto p = std::make_shared<const Json>(parent);
  std::lock_guard lock(mutex_);
  parent_ = std::move(p);
}

void IopubPublisher::write_stream(std::string_view name, std::string_view text) {
  std::lock_guard lock(mutex_);
  auto urgency = streams_.append(name, text, parent_);
  switch (urgency) {
    case StreamBuffer::Urgency::Full:
      move_streams_locked();
      post_drain_locked();
      break;
    case StreamBuffer::Urgency::Newline:
      if (!urgent_posted_) {
        urgent_posted_ = true;
        reactor_.post([this] { flush_soon(); });
      }
      break;
    case StreamBuffer::Urgency::Later:
      if (!timer_posted_ && !urgent_posted_) {
        timer_posted_ = true;
        reactor_.post([this] { arm_timer(Clock::now() + settings_.flush_interval); });
      }
      break;
  }
}

void IopubPublisher::request_flush() {
  std::lock_guard lock(mutex_);
  if (streams_.empty()) return;
  move_streams_locked();
  post_drain_locked();
}

void IopubPublisher::flush_streams_and_wait() {
  if (!running_) return;
  {
    std::lock_guard lock(mutex_);
    move_streams_locked();
    if (output_pending_ == 0) return;  // only status messages: their drain is already posted
  }
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  reactor_.post([this, done] {
    drain();
    done->set_value();
  });
  if (fut.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    spdlog::warn("IOPub flush did not complete within 2 s");
  }
}

void IopubPublisher::move_streams_locked() {
  if (streams_.empty()) return;
  for (auto& chunk : streams_.take()) {
    ++output_pending_;
    queue_.push_back(Outgoing{settings_.engine.topic(chunk.name),
                              std::string(wire::msg::kStream),
                              Json{{"name", chunk.name}, {"text", std::move(chunk.text)}},
                              chunk.parent,
                              Json{{"engine", settings_.engine.uuid}},
                              {}});
  }
}

void IopubPublisher::post_drain_locked() {
  if (drain_posted_) return;
  drain_posted_ = true;
  reactor_.post([this] { drain(); });
}

void IopubPublisher::drain() {
  std::deque<Outgoing> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
    drain_posted_ = false;
    in_flight_ = !batch.empty();
  }
  std::size_t outputs = 0;
  for (const auto& item : batch) outputs += item.msg_type != wire::msg::kStatus ? 1 : 0;
  if (socket_ && session_) send_batch(batch);
  std::lock_guard lock(mutex_);
  in_flight_ = false;
  output_pending_ -= std::min(outputs, output_pending_);
}

void IopubPublisher::send_batch(std::deque<Outgoing>& batch) {
  for (auto& item : batch) send_one(item);
}

const std::string& IopubPublisher::packed_parent(const std::shared_ptr<const Json>& parent) {
  static const std::string kEmpty = "{}";
  if (!parent) return kEmpty;
  if (parent != packed_for_) {  // a request's status and output share one packing
    packed_parent_ = wire::Session::pack(*parent);
    packed_for_ = parent;
  }
  return packed_parent_;
}

void IopubPublisher::send_one(Outgoing& item) {
  try {
    // written as text: header, parent and the two small parts need no message tree
    wire::Frames frames = session_->serialize_packed(
        {std::move(item.topic)}, session_->header_text(item.msg_type, ids_.next()),
        packed_parent(item.parent), wire::Session::pack(item.metadata),
        wire::Session::pack(item.content), std::move(item.buffers));
    net::send_frames(*socket_, std::move(frames), /*block=*/true);
    ++sent_;
  } catch (const std::exception& e) {
    spdlog::error("IOPub: could not publish {}: {}", item.msg_type, e.what());
  }
}

void IopubPublisher::flush_now() {
  {
    std::lock_guard lock(mutex_);
    move_streams_locked();
    urgent_posted_ = false;
    timer_posted_ = false;
  }
  if (timer_ != 0) {
    reactor_.cancel(timer_);
    timer_ = 0;
  }
  last_flush_ = Clock::now();
  drain();
}

void IopubPublisher::flush_soon() {
  auto earliest = last_flush_ + settings_.min_interval;
  if (Clock::now() >= earliest) {
    flush_now();
  } else {
    arm_timer(earliest);
  }
}

void IopubPublisher::arm_timer(Clock::time_point due) {
  if (timer_ != 0) {
    if (timer_due_ <= due) return;
    reactor_.cancel(timer_);
  }
  timer_due_ = due;
  timer_ = reactor_.call_later(std::max(Clock::duration::zero(), due - Clock::now()), [this] {
    timer_ = 0;
    flush_now();
  });
}

}  // namespace ipp::engine
