#pragma once
// Identifiers and timestamps spelled the way jupyter_client writes them.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ipp {

// jupyter_client.session.new_id(): 16 random bytes as "8hex-24hex".
std::string new_id();

// A wall-clock time point with microsecond resolution.
using WallTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;
WallTime wall_now();

// ISO-8601 in UTC with microseconds and a "Z" suffix: "2026-11-26T10:46:13.349259Z".
std::string iso8601(WallTime t);
inline std::string iso8601_now() { return iso8601(wall_now()); }

// Parses what Python receivers accept: YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|+HH:MM|+HHMM].
// A zone-less time is taken as UTC.
std::optional<WallTime> parse_iso8601(std::string_view s);

// The host name, as socket.gethostname().
std::string host_name();

}  // namespace ipp
