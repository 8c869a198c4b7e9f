#include <ipp/util/log.hpp>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <vector>

namespace ipp::log {

namespace {

// "%*" in the pattern: " WARNING |", " ERROR |", " CRITICAL |" for WARNING and above, else
// nothing, as ipyparallel's `highlevel` field.
class HighLevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const char* text = nullptr;
    switch (msg.level) {
      case spdlog::level::warn: text = " WARNING |"; break;
      case spdlog::level::err: text = " ERROR |"; break;
      case spdlog::level::critical: text = " CRITICAL |"; break;
      default: return;
    }
    dest.append(text, text + std::char_traits<char>::length(text));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<HighLevelFlag>();
  }
};

std::mutex g_mutex;
std::vector<spdlog::sink_ptr> g_sinks;
spdlog::level::level_enum g_level = spdlog::level::info;
std::string g_app = "ipp";

std::unique_ptr<spdlog::formatter> make_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<HighLevelFlag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e [%n]%* %v");
  return f;
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::toupper(c); });
  if (t == "DEBUG") return spdlog::level::debug;
  if (t == "INFO") return spdlog::level::info;
  if (t == "WARN" || t == "WARNING") return spdlog::level::warn;
  if (t == "ERROR") return spdlog::level::err;
  if (t == "CRITICAL" || t == "FATAL") return spdlog::level::critical;
  if (t.empty()) return std::nullopt;
  int n = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
    if (n > 1000) return std::nullopt;
  }
  // Python logging: anything below 10 is NOTSET/debug-ish; map ranges onto spdlog levels.
  if (n < 10) return spdlog::level::trace;
  if (n < 20) return spdlog::level::debug;
  if (n < 30) return spdlog::level::info;
  if (n < 40) return spdlog::level::warn;
  if (n < 50) return spdlog::level::err;
  return spdlog::level::critical;
}

void init(const std::string& app, spdlog::level::level_enum level, const std::string& file) {
  std::lock_guard lock(g_mutex);
  g_sinks.clear();
  if (file.empty()) {
    g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    g_sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  }
  for (auto& s : g_sinks) s->set_formatter(make_formatter());
  g_level = level;
  g_app = app;
  spdlog::drop_all();
  auto logger = std::make_shared<spdlog::logger>(app, g_sinks.begin(), g_sinks.end());
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

std::shared_ptr<spdlog::logger> get(const std::string& component) {
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(component)) return existing;
  if (g_sinks.empty()) {
    g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    for (auto& s : g_sinks) s->set_formatter(make_formatter());
  }
  auto logger = std::make_shared<spdlog::logger>(component, g_sinks.begin(), g_sinks.end());
  logger->set_level(g_level);
  logger->flush_on(spdlog::level::trace);
  spdlog::register_logger(logger);
  return logger;
}

bool RateLimit::allow() {
  auto now = std::chrono::steady_clock::now();
  if (first_ || now - last_ >= period_) {
    first_ = false;
    last_ = now;
    reported_ = suppressed_;
    suppressed_ = 0;
    return true;
  }
  ++suppressed_;
  return false;
}

std::string printable(std::string_view bytes, std::size_t max) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(bytes.size(), max);
  out.reserve(n + 16);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (bytes.size() > n) out += "...(+" + std::to_string(bytes.size() - n) + " bytes)";
  return out;
}

}  // namespace ipp::log
