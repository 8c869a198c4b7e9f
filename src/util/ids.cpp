#include <ipp/util/ids.hpp>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <random>

namespace ipp {

std::string new_id() {
  // Not for secrets (keys come from OpenSSL's RAND in the controller); ids only need to be unique.
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<std::uint64_t>(::getpid()) << 32)};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(33);
  for (int i = 0; i < 2; ++i) {
    std::uint64_t a = rng();
    for (int j = 0; j < 16; ++j) {
      if (out.size() == 8) out.push_back('-');
      out.push_back(kHex[(a >> (j * 4)) & 0xf]);
    }
  }
  return out;
}

WallTime wall_now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now());
}

std::string iso8601(WallTime t) {
  auto us = t.time_since_epoch().count();
  std::int64_t secs = us / 1000000;
  std::int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  // "YYYY-MM-DDTHH:MM:SS.ffffffZ", written digit by digit (this runs for every message sent)
  std::string out(27, '0');
  auto put = [&out](std::size_t end, long long v, int width) {
    for (int i = 0; i < width; ++i, v /= 10) out[end - i] = static_cast<char>('0' + v % 10);
  };
  long long year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) year = year < 0 ? 0 : 9999;  // outside ISO-8601's basic range
  put(3, year, 4);
  out[4] = '-';
  put(6, tm.tm_mon + 1, 2);
  out[7] = '-';
  put(9, tm.tm_mday, 2);
  out[10] = 'T';
  put(12, tm.tm_hour, 2);
  out[13] = ':';
  put(15, tm.tm_min, 2);
  out[16] = ':';
  put(18, tm.tm_sec, 2);
  out[19] = '.';
  put(25, frac, 6);
  out[26] = 'Z';
  return out;
}

namespace {
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}
}  // namespace

std::optional<WallTime> parse_iso8601(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != ' ') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, se))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (int i = n; i < 6; ++i) micros *= 10;
  }
  std::int64_t offset_s = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int sign = s[pos] == '-' ? -1 : 1;
      int oh, om;
      if (!digits(s, pos + 1, 2, oh)) return std::nullopt;
      std::size_t mpos = pos + 3;
      if (mpos < s.size() && s[mpos] == ':') ++mpos;
      if (!digits(s, mpos, 2, om)) return std::nullopt;
      offset_s = sign * (oh * 3600 + om * 60);
      pos = mpos + 2;
    }
  }
  if (pos != s.size()) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  y -= mo <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  return WallTime(std::chrono::microseconds(secs * 1000000 + micros));
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return buf.data();
}

}  // namespace ipp
