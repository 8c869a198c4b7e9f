#include <ipp/cluster/startup_monitor.hpp>

namespace ipp::cluster {

using Kind = MonitorAction::Kind;

StartupMonitor::StartupMonitor(int expected, std::chrono::milliseconds early_shutdown,
                               TimePoint started)
    : expected_(expected), alive_(expected), early_shutdown_(early_shutdown), started_(started) {}

std::vector<MonitorAction> StartupMonitor::on_registered(int count, TimePoint now) {
  std::vector<MonitorAction> out;
  if (shut_down_ || count == registered_) return out;
  registered_ = count;
  if (succeeded_) return out;
  out.push_back({Kind::Progress, std::to_string(count) + "/" + std::to_string(expected_) +
                                     " engines registered"});
  if (count >= expected_) {
    succeeded_ = true;
    out.push_back({Kind::Success, "Engines appear to have started successfully"});
  }
  (void)now;
  return out;
}

std::vector<MonitorAction> StartupMonitor::on_engine_exit(TimePoint now) {
  std::vector<MonitorAction> out;
  if (shut_down_) return out;
  if (alive_ > 0) --alive_;
  if (alive_ > 0) return out;
  if (in_window(now) && !succeeded_) {
    shut_down_ = true;
    out.push_back({Kind::EarlyShutdown,
                   "Engines shutdown early, they probably failed to connect.\n\n"
                   "Check the engine log files for output.\n\n"
                   "If your controller and engines are not on the same machine, you probably\n"
                   "have to instruct the controller to listen on an interface other than "
                   "localhost.\n\n"
                   "You can set this by adding \"--ip='*'\" to your ControllerLauncher.controller_args"
                   " (or ipcluster start --ip='*').\n\n"
                   "Be sure to read our security docs before instructing your controller to "
                   "listen on a public interface."});
  } else if (!all_dead_reported_) {
    all_dead_reported_ = true;
    out.push_back({Kind::Warning, "All engines have stopped; the controller keeps running"});
  }
  return out;
}

std::vector<MonitorAction> StartupMonitor::on_tick(TimePoint now) {
  std::vector<MonitorAction> out;
  if (shut_down_ || succeeded_ || window_reported_ || in_window(now)) return out;
  window_reported_ = true;
  if (alive_ > 0) {
    out.push_back({Kind::Warning, std::to_string(registered_) + "/" + std::to_string(expected_) +
                                      " engines registered after " +
                                      std::to_string(early_shutdown_.count() / 1000) +
                                      " s; still waiting for the others"});
  }
  return out;
}

bool StartupMonitor::wants_probe(TimePoint now) const {
  if (shut_down_ || succeeded_) return false;
  if (!probed_once_) return true;
  auto period = in_window(now) ? std::chrono::seconds(1) : std::chrono::seconds(5);
  return now - last_probe_ >= period;
}

}  // namespace ipp::cluster
