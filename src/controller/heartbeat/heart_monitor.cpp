#include "ipp/controller/heartbeat/heart_monitor.hpp"

#include <charconv>
#include <cmath>

namespace ipp::controller::heartbeat {

std::string python_float_str(double value) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  std::string s(buf, res.ptr);
  if (std::isfinite(value) && s.find_first_of(".eEn") == std::string::npos) s += ".0";
  // Python writes exponents with at least two digits ("1e-05", "1e+16").
  if (auto e = s.find('e'); e != std::string::npos) {
    std::string mant = s.substr(0, e);
    std::string exp = s.substr(e + 1);
    char sign = '+';
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) {
      sign = exp[0];
      exp.erase(0, 1);
    }
    std::string out;
    out.reserve(s.size() + 2);
    out.append(mant).push_back('e');
    out.push_back(sign);
    if (exp.size() < 2) out.push_back('0');
    out.append(exp);
    s = std::move(out);
  }
  return s;
}

HeartMonitor::HeartMonitor(Options options, TimePoint start)
    : options_(options), start_(start), next_beat_(start + options.period), current_("0.0") {}

HeartMonitor::Beat HeartMonitor::beat(TimePoint now) {
  Beat out;
  for (auto it = hearts_.begin(); it != hearts_.end();) {
    Heart& h = it->second;
    if (h.responded) {
      h.misses = 0;
      h.responded = false;
      ++it;
      continue;
    }
    if (++h.misses > options_.max_misses) {
      out.failed_hearts.push_back(it->first);
      it = hearts_.erase(it);
    } else {
      ++it;
    }
  }
  previous_ = std::move(current_);
  const double lifetime = std::chrono::duration<double>(now - start_).count();
  current_ = python_float_str(lifetime);
  if (current_ == previous_) current_ += "0";  // keep payloads distinct even if time stood still
  next_beat_ = now + options_.period;
  out.ping = current_;
  return out;
}

bool HeartMonitor::pong(std::string_view uuid, std::string_view payload, TimePoint /*now*/) {
  if (payload != current_ && (previous_.empty() || payload != previous_)) {
    ++bad_pongs_;
    return false;
  }
  auto [it, inserted] = hearts_.try_emplace(std::string(uuid));
  it->second.responded = true;
  return inserted;
}

void HeartMonitor::forget(std::string_view uuid) { hearts_.erase(std::string(uuid)); }

void HeartMonitor::expect(std::string_view uuid) { hearts_.try_emplace(std::string(uuid)); }

bool HeartMonitor::is_known(std::string_view uuid) const {
  return hearts_.count(std::string(uuid)) != 0;
}

int HeartMonitor::misses(std::string_view uuid) const {
  auto it = hearts_.find(std::string(uuid));
  return it == hearts_.end() ? -1 : it->second.misses;
}

}  // namespace ipp::controller::heartbeat
