#include <ipp/net/reactor.hpp>
#include <ipp/util/log.hpp>

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

namespace ipp::net {

Reactor::Reactor(std::string name) : name_(std::move(name)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

Reactor::~Reactor() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

void Reactor::add(zmq::socket_t& socket, Handler on_readable) {
  items_.push_back(Item{&socket, -1, std::move(on_readable), next_key_++});
  dirty_ = true;
}

void Reactor::remove(zmq::socket_t& socket) {
  items_.erase(std::remove_if(items_.begin(), items_.end(),
                              [&](const Item& i) { return i.socket == &socket; }),
               items_.end());
  dirty_ = true;
}

void Reactor::add_fd(int fd, Handler on_readable) {
  items_.push_back(Item{nullptr, fd, std::move(on_readable), next_key_++});
  dirty_ = true;
}

void Reactor::remove_fd(int fd) {
  items_.erase(std::remove_if(items_.begin(), items_.end(),
                              [&](const Item& i) { return i.socket == nullptr && i.fd == fd; }),
               items_.end());
  dirty_ = true;
}

Reactor::TimerId Reactor::call_later(Duration delay, Handler fn) {
  TimerId id = next_timer_++;
  timers_.emplace(id, Timer{std::chrono::steady_clock::now() + delay, {}, false, std::move(fn)});
  return id;
}

Reactor::TimerId Reactor::call_every(Duration period, Handler fn) {
  TimerId id = next_timer_++;
  timers_.emplace(id,
                  Timer{std::chrono::steady_clock::now() + period, period, true, std::move(fn)});
  return id;
}

void Reactor::cancel(TimerId id) { timers_.erase(id); }

void Reactor::post(Handler fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void Reactor::stop() {
  post([this] { stop_requested_ = true; });
}

void Reactor::on_signal(int signo, std::function<void(int)> fn) {
  signal_handlers_[signo] = std::move(fn);
  sigset_t mask;
  sigemptyset(&mask);
  for (const auto& [s, _] : signal_handlers_) sigaddset(&mask, s);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  int fd = ::signalfd(signal_fd_, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  if (signal_fd_ < 0) {
    signal_fd_ = fd;
    dirty_ = true;
  }
}

void Reactor::rebuild_items() {
  poll_items_.clear();
  poll_items_.push_back(zmq::pollitem_t{nullptr, wake_fd_, ZMQ_POLLIN, 0});
  if (signal_fd_ >= 0) poll_items_.push_back(zmq::pollitem_t{nullptr, signal_fd_, ZMQ_POLLIN, 0});
  for (const auto& item : items_) {
    if (item.socket != nullptr) {
      poll_items_.push_back(zmq::pollitem_t{item.socket->handle(), 0, ZMQ_POLLIN, 0});
    } else {
      poll_items_.push_back(zmq::pollitem_t{nullptr, item.fd, ZMQ_POLLIN, 0});
    }
  }
  dirty_ = false;
}

void Reactor::safely(const char* what, const Handler& fn) {
  try {
    fn();
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) {
      stop_requested_ = true;
      return;
    }
    report_failure(what, e.what());
  } catch (const std::exception& e) {
    report_failure(what, e.what());
  } catch (...) {
    report_failure(what, "an unknown exception");
  }
}

void Reactor::report_failure(const char* what, const std::string& why) {
  if (!failures_) {
    failures_ = std::make_unique<log::Tally>(spdlog::default_logger());
    call_every(failures_->period(), [this] { failures_->flush(); });
  }
  failures_->report(spdlog::level::err, std::string("[") + name_ + "] " + what + " handler failure",
                    [&] { return fmt::format("[{}] {} handler failed: {}", name_, what, why); });
}

void Reactor::run_timers() {
  auto now = std::chrono::steady_clock::now();
  std::vector<TimerId> due;
  for (const auto& [id, t] : timers_) {
    if (t.due <= now) due.push_back(id);
  }
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier timer
    Handler fn = it->second.fn;
    if (it->second.repeat) {
      it->second.due += it->second.period;
      if (it->second.due < now) it->second.due = now + it->second.period;
    } else {
      timers_.erase(it);
    }
    safely("timer", fn);
  }
}

void Reactor::drain_posted() {
  std::uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
  std::vector<Handler> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) safely("posted", fn);
}

void Reactor::handle_signals() {
  signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof info) == sizeof info) {
    int signo = static_cast<int>(info.ssi_signo);
    auto it = signal_handlers_.find(signo);
    if (it != signal_handlers_.end()) {
      auto fn = it->second;
      safely("signal", [&] { fn(signo); });
    }
  }
}

void Reactor::run() {
  // A reactor on its own thread names it (top -H, perf): "relay", "task", "control"... The main
  // thread keeps the program's name, which is what ps and pgrep show for the process.
  if (::gettid() != ::getpid()) {
    ::pthread_setname_np(::pthread_self(), name_.substr(0, 15).c_str());
  }
  running_ = true;
  stop_requested_ = false;
  while (!stop_requested_) {
    if (dirty_) rebuild_items();
    long timeout_ms = -1;
    if (!timers_.empty()) {
      auto next = std::min_element(timers_.begin(), timers_.end(), [](auto& a, auto& b) {
                    return a.second.due < b.second.due;
                  })->second.due;
      auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(
                       next - std::chrono::steady_clock::now())
                       .count();
      timeout_ms = std::max<long>(0, delta + (delta >= 0 ? 1 : 0));
    }
    try {
      zmq::poll(poll_items_.data(), poll_items_.size(), std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      if (e.num() == ETERM) break;
      throw;
    }
    // Snapshot: handlers may add or remove items while we iterate.
    std::vector<std::pair<std::size_t, short>> ready;
    for (std::size_t i = 0; i < poll_items_.size(); ++i) {
      if (poll_items_[i].revents & ZMQ_POLLIN) ready.emplace_back(i, poll_items_[i].revents);
    }
    std::size_t fixed = signal_fd_ >= 0 ? 2 : 1;
    std::vector<std::uint64_t> keys;
    for (auto [i, _] : ready) {
      if (i == 0) {
        drain_posted();
      } else if (signal_fd_ >= 0 && i == 1) {
        handle_signals();
      } else if (i - fixed < items_.size()) {
        keys.push_back(items_[i - fixed].key);
      }
    }
    for (auto key : keys) {
      if (stop_requested_) break;
      auto it = std::find_if(items_.begin(), items_.end(),
                             [key](const Item& item) { return item.key == key; });
      if (it == items_.end()) continue;  // removed by an earlier handler
      Handler h = it->handler;
      safely("socket", h);
    }
    run_timers();
  }
  running_ = false;
}

}  // namespace ipp::net
