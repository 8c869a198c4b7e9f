#include "ipp/util/log_tally.hpp"

namespace ipp::log {

Tally::Tally(std::shared_ptr<spdlog::logger> logger, std::chrono::milliseconds period,
             const Clock* clock)
    : logger_(std::move(logger)), period_(period), clock_(clock) {}

bool Tally::admit(spdlog::level::level_enum level, std::string_view kind) {
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) it = kinds_.emplace(std::string(kind), Kind{}).first;
  Kind& k = it->second;
  k.level = level;
  ++k.total;
  if (!logger_->should_log(level)) return false;
  const TimePoint t = now();
  if (k.total > 1 && t - k.logged < period_) {
    ++k.counted;
    return false;
  }
  if (k.counted) summarise(it->first, k, t);  // the period that ended goes before the new line
  k.logged = t;
  return true;
}

void Tally::summarise(const std::string& name, Kind& k, TimePoint t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - k.logged).count();
  logger_->log(k.level, "{} more: {} (in the last {:.1f} s; {} since start-up)", k.counted, name,
               static_cast<double>(ms) / 1000.0, k.total);
  k.counted = 0;
  k.logged = t;
}

void Tally::flush() {
  const TimePoint t = now();
  for (auto& [name, k] : kinds_) {
    if (k.counted) summarise(name, k, t);
  }
}

std::size_t Tally::total(std::string_view kind) const {
  const auto it = kinds_.find(kind);
  return it == kinds_.end() ? 0 : it->second.total;
}

}  // namespace ipp::log
