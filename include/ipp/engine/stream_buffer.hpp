#pragma once
// StreamBuffer: text written to sys.stdout/sys.stderr, waiting to become IOPub `stream`
// messages. Consecutive writes to the same stream for the same request merge into one chunk, so
// a loop of print() calls costs a few messages, not one per call.
//
// Not thread-safe: IopubPublisher guards it with its mutex (writers are any Python thread, the
// reader is the IOPub thread). The flush policy (when to publish) is the publisher's; append()
// only says how urgent the new text makes it.
#include <ipp/wire/message.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::engine {

class StreamBuffer {
 public:
  struct Chunk {
    std::string name;  // "stdout" / "stderr"
    std::string text;
    std::shared_ptr<const wire::Json> parent;  // the request running when it was written
  };
  enum class Urgency {
    Later,    // partial line: publish within the flush interval
    Newline,  // a line is complete: publish soon (rate-limited)
    Full,     // the buffer is over its size limit: publish now
  };

  explicit StreamBuffer(std::size_t max_bytes = std::size_t{1} << 20) : max_bytes_(max_bytes) {}

  Urgency append(std::string_view name, std::string_view text,
                 std::shared_ptr<const wire::Json> parent);
  std::vector<Chunk> take();
  bool empty() const { return chunks_.empty(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::vector<Chunk> chunks_;
};

// Engine-side heartbeat watchdog (IPEngine._hb_monitor): checked every hb_period + 500 ms; a check
// that saw no ping since the previous one is a miss; `max_misses` misses in a row (50 by default,
// 0 disables) mean the controller is gone. Pure logic, owned by the heart thread.
class HeartbeatWatchdog {
 public:
  enum class Verdict { Ok, Missed, GiveUp };
  explicit HeartbeatWatchdog(int max_misses = 50) : max_misses_(max_misses) {}
  Verdict check(bool pinged_since_last_check);
  int missed() const { return missed_; }
  int max_misses() const { return max_misses_; }

 private:
  int max_misses_;
  int missed_ = 0;
};

}  // namespace ipp::engine
