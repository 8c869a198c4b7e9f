#pragma once
// Logging with spdlog, in ipyparallel's format:
//   "2026-11-26 10:46:52.908 [IPController] WARNING | message"
// The level prefix appears only for WARNING and above, as BaseParallelApplication writes it.
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ipp::log {

// Parses ipyparallel's --log-level: a number (10, 20, 30, 40, 50, or any int) or a name
// (DEBUG, INFO, WARN, WARNING, ERROR, CRITICAL), case-insensitively. nullopt when invalid.
std::optional<spdlog::level::level_enum> parse_level(std::string_view text);

// Sets up the default logger named `app` (e.g. "IPController") writing to stderr, or to `file`
// when it is non-empty. Call once at start-up, before any thread starts.
void init(const std::string& app, spdlog::level::level_enum level, const std::string& file = "");

// A logger for a component, sharing the app's sinks. Loggers are created once and cached by the
// component that uses them.
std::shared_ptr<spdlog::logger> get(const std::string& component);

// Bytes from the wire (identities, ids, message types) made safe for a log line: printable ASCII
// stays, a backslash and every other byte become \\ and \xNN, and past `max` bytes the rest is
// cut and counted ("...(+N bytes)"). A log line never carries raw binary or a forged newline.
std::string printable(std::string_view bytes, std::size_t max = 120);

// Rate limiter for per-message warnings: allow() is true at most once per `period`; after an
// allowed call, suppressed() tells how many calls were refused between it and the one before.
class RateLimit {
 public:
  explicit RateLimit(std::chrono::milliseconds period = std::chrono::seconds(5)) : period_(period) {}
  bool allow();
  std::size_t suppressed() const { return reported_; }

 private:
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point last_{};
  bool first_ = true;
  std::size_t suppressed_ = 0;
  std::size_t reported_ = 0;
};

}  // namespace ipp::log
