#pragma once
// Problem reports under attack: the first report of a kind in a period is logged at once, the
// others are counted and summarised by flush(), one line per kind ("34,512 more: bad query
// message (in the last 5 s)"). A storm of bad input costs a few log lines per period, and the
// counts tell what it was made of.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "ipp/util/clock.hpp"

namespace ipp::log {

class Tally {
 public:
  explicit Tally(std::shared_ptr<spdlog::logger> logger,
                 std::chrono::milliseconds period = std::chrono::seconds(5),
                 const Clock* clock = nullptr);

  // Reports a problem of `kind` (a short fixed phrase: "bad query message"). `describe` builds
  // the full line and is called only when the report is logged.
  template <class Describe>
  void report(spdlog::level::level_enum level, std::string_view kind, Describe&& describe) {
    if (admit(level, kind)) logger_->log(level, "{}", std::forward<Describe>(describe)());
  }

  // Writes the summary line of every kind with reports counted since its last line, and starts
  // a new period for them. Call it every period (a reactor timer) and at shutdown.
  void flush();

  // Reports of `kind` since start-up, logged or not.
  std::size_t total(std::string_view kind) const;
  // Adds every kind's total since start-up to `into` (the status page's bad-input counts).
  void add_totals(std::map<std::string, std::uint64_t>& into) const {
    for (const auto& [name, k] : kinds_) into[name] += k.total;
  }
  std::chrono::milliseconds period() const { return period_; }

 private:
  struct Kind {
    spdlog::level::level_enum level = spdlog::level::warn;
    TimePoint logged{};
    std::size_t counted = 0;  // since the line at `logged`, not logged
    std::size_t total = 0;
  };
  bool admit(spdlog::level::level_enum level, std::string_view kind);
  void summarise(const std::string& name, Kind& k, TimePoint t);
  TimePoint now() const { return clock_ ? clock_->now() : std::chrono::steady_clock::now(); }

  std::shared_ptr<spdlog::logger> logger_;
  std::chrono::milliseconds period_;
  const Clock* clock_;
  std::map<std::string, Kind, std::less<>> kinds_;
};

}  // namespace ipp::log
