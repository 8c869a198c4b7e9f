#pragma once
// ClientRoutes: each client session's routing identity on the task port, kept in a file
// (log/task-clients<cluster-id>.json, 0600) that is rewritten only when a client appears or
// reconnects, so that after a restart with --restore the replies to tasks read back from the
// store go to the client that sent them. Bounded to the most recent sessions.
//
// Owning thread: the task thread. Lifetime: the controller's.
#include <ipp/util/log.hpp>
#include <ipp/util/log_tally.hpp>

#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ipp::controller::service {

class ClientRoutes {
 public:
  ClientRoutes(std::filesystem::path file, std::shared_ptr<spdlog::logger> log);
  // Reads the routes a previous controller saved (a missing file is no error).
  void load();
  // A request from `session` arrived under `route`: saved when new or changed.
  void note(std::string_view session, std::string_view route);
  // The newest route of `session`, or nullptr.
  const std::string* find(std::string_view session) const;

 private:
  void save();

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::filesystem::path file_;
  std::shared_ptr<spdlog::logger> log_;
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> routes_;
  std::deque<std::string> order_;  // oldest first
  log::Tally problems_;
};

}  // namespace ipp::controller::service
