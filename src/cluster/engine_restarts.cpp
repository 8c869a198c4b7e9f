#include <ipp/cluster/engine_restarts.hpp>

#include <algorithm>
#include <cmath>

namespace ipp::cluster {

EngineRestartPolicy::Decision EngineRestartPolicy::on_exit(double uptime_s) {
  Decision d;
  if (!enabled()) return d;
  if (uptime_s >= s_.reset_s) streak_ = 0;
  if (streak_ >= s_.limit) {
    d.attempt = streak_;
    return d;
  }
  ++streak_;
  ++total_;
  const double delay = std::min(s_.max_delay_s, s_.delay_s * std::pow(2.0, streak_ - 1));
  d.restart = true;
  d.attempt = streak_;
  d.after = std::chrono::milliseconds(static_cast<long>(std::max(0.0, delay) * 1000));
  return d;
}

}  // namespace ipp::cluster
