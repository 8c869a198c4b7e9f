#include <ipp/engine/stream_buffer.hpp>

#include <utility>

namespace ipp::engine {

StreamBuffer::Urgency StreamBuffer::append(std::string_view name, std::string_view text,
                                           std::shared_ptr<const wire::Json> parent) {
  if (!text.empty()) {
    if (!chunks_.empty() && chunks_.back().name == name && chunks_.back().parent == parent) {
      chunks_.back().text.append(text);
    } else {
      chunks_.push_back(Chunk{std::string(name), std::string(text), std::move(parent)});
    }
    bytes_ += text.size();
  }
  if (bytes_ >= max_bytes_) return Urgency::Full;
  if (text.find('\n') != std::string_view::npos) return Urgency::Newline;
  return Urgency::Later;
}

std::vector<StreamBuffer::Chunk> StreamBuffer::take() {
  bytes_ = 0;
  return std::exchange(chunks_, {});
}

HeartbeatWatchdog::Verdict HeartbeatWatchdog::check(bool pinged_since_last_check) {
  if (pinged_since_last_check) {
    missed_ = 0;
    return Verdict::Ok;
  }
  ++missed_;
  if (max_misses_ > 0 && missed_ >= max_misses_) return Verdict::GiveUp;
  return Verdict::Missed;
}

}  // namespace ipp::engine
