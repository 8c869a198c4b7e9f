#pragma once
// HeartMonitor: the miss counting of ipyparallel's HeartMonitor (controller/heartmonitor.py;
// protocol.md 3.9) without sockets. The adapter publishes beat().ping on hb_ping every period,
// feeds every [uuid, payload] from the hb_pong ROUTER to pong(), and reports new/stopped hearts
// to the hub.
//
// Differences from Python, on purpose: a heart's first valid pong is reported at once (pong()
// returns true) instead of at the next beat, so a registration completes without waiting a
// period. A heart declared failed that answers again is new again (Python does the same, one
// beat later).
//
// Owning thread: the controller's main reactor. Lifetime: the controller's. Not thread-safe.
#include "ipp/util/clock.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ipp::controller::heartbeat {

class HeartMonitor {
 public:
  struct Options {
    Duration period = std::chrono::milliseconds(3000);  // HeartMonitor.period
    int max_misses = 10;  // HeartMonitor.max_heartmonitor_misses: more than this fails a heart
  };
  struct Beat {
    std::string ping;                        // payload to publish on hb_ping
    std::vector<std::string> failed_hearts;  // report as stopped_heart
  };

  HeartMonitor(Options options, TimePoint start);

  // Called every period. Counts a miss for each known heart that did not answer since the last
  // beat, fails those past max_misses, and returns the new ping payload (Python str(float) of
  // the seconds since start, e.g. "3.0", "6.000123").
  Beat beat(TimePoint now);
  // A pong. Valid if the payload equals the current or the previous ping; anything else is a
  // bad heartbeat, ignored (counted in bad_pongs()). Returns true when the heart is new: report
  // new_heart for it now.
  bool pong(std::string_view uuid, std::string_view payload, TimePoint now);
  // Forget a heart (e.g. the hub unregistered its engine); a later pong makes it new again.
  void forget(std::string_view uuid);
  // Count misses for a heart that has not answered yet (an engine restored from the state
  // file): it fails after max_misses silent periods like any other.
  void expect(std::string_view uuid);

  Duration period() const { return options_.period; }
  TimePoint next_beat() const { return next_beat_; }
  const std::string& current_ping() const { return current_; }
  bool is_known(std::string_view uuid) const;
  int misses(std::string_view uuid) const;  // consecutive misses so far; -1 if unknown
  std::size_t heart_count() const { return hearts_.size(); }
  std::uint64_t bad_pongs() const { return bad_pongs_; }

 private:
  struct Heart {
    int misses = 0;
    bool responded = false;
  };
  Options options_;
  TimePoint start_;
  TimePoint next_beat_;
  std::string current_;
  std::string previous_;
  std::unordered_map<std::string, Heart> hearts_;
  std::uint64_t bad_pongs_ = 0;
};

// Python's str(float) for the ping payload: shortest round-trip digits, ".0" when integral.
std::string python_float_str(double value);

}  // namespace ipp::controller::heartbeat
