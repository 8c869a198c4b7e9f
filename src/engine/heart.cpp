#include <ipp/engine/heart.hpp>
#include <ipp/engine/iopub.hpp>
#include <ipp/util/log.hpp>

#include <future>
#include <utility>
#include <vector>

namespace ipp::engine {

Heart::Heart(zmq::context_t& context, Settings settings, std::function<void()> on_lost)
    : context_(context),
      settings_(std::move(settings)),
      on_lost_(std::move(on_lost)),
      watchdog_(settings_.max_misses) {}

Heart::~Heart() { stop(); }

void Heart::start() {
  std::promise<void> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, &ready] {
    block_sigint_in_this_thread();
    try {
      ping_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::sub);
      ping_->set(zmq::sockopt::linger, 0);
      ping_->set(zmq::sockopt::subscribe, "");
      net::set_curve_client(*ping_, settings_.curve);
      ping_->connect(settings_.ping_url);
      pong_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
      pong_->set(zmq::sockopt::linger, 0);
      pong_->set(zmq::sockopt::routing_id, settings_.identity);
      net::set_curve_client(*pong_, settings_.curve);
      pong_->connect(settings_.pong_url);
      reactor_.add(*ping_, [this] { on_ping(); });
      if (settings_.max_misses > 0) {
        reactor_.call_every(settings_.check_period, [this] { check(); });
      }
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    reactor_.run();
    ping_.reset();
    pong_.reset();
  });
  try {
    started.get();
  } catch (...) {
    thread_.join();
    throw;
  }
  if (settings_.max_misses > 0) {
    spdlog::info("Starting to monitor the heartbeat signal from the hub every {} ms.",
                 settings_.check_period.count());
  } else {
    spdlog::info("Monitoring of the heartbeat signal from the hub is not enabled.");
  }
}

void Heart::stop() {
  if (!thread_.joinable()) return;
  reactor_.stop();
  thread_.join();
}

void Heart::on_ping() {
  std::vector<zmq::message_t> frames;
  while (true) {
    frames.clear();
    zmq::message_t part;
    if (!ping_->recv(part, zmq::recv_flags::dontwait)) break;
    frames.push_back(std::move(part));
    while (ping_->get(zmq::sockopt::rcvmore)) {
      zmq::message_t more;
      (void)ping_->recv(more);
      frames.push_back(std::move(more));
    }
    // echo unchanged; a full pipe (controller gone) drops the pong rather than blocking
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      if (!pong_->send(frames[i], flags)) break;
    }
    pinged_ = true;
    ++pings_;
  }
}

void Heart::check() {
  auto verdict = watchdog_.check(std::exchange(pinged_, false));
  if (verdict == HeartbeatWatchdog::Verdict::Missed) {
    spdlog::warn("No heartbeat in the last {} ms ({} time(s) in a row).",
                 settings_.check_period.count(), watchdog_.missed());
  } else if (verdict == HeartbeatWatchdog::Verdict::GiveUp && !lost_) {
    lost_ = true;
    spdlog::critical("Maximum number of heartbeats misses reached ({} times {} ms), shutting down.",
                     watchdog_.max_misses(), settings_.check_period.count());
    if (on_lost_) on_lost_();
  }
}

}  // namespace ipp::engine
