#pragma once
// A task dependency as the scheduler sees it (ipyparallel controller/dependency.py `Dependency`):
// a set of msg_ids plus three flags. Value type, no thread affinity.
//
// met / unreachable follow protocol.md 6.2 exactly (C = completed ok, F = failed):
//   accepted A = (C if success) u (F if failure);  rejected R = (C if !success) u (F if !failure)
//   met:         empty, or all: ids <= A,  any: ids & A != {}
//   unreachable: non-empty and (all: ids & R != {},  any: ids <= R)
#include "ipp/util/result.hpp"
#include "ipp/wire/message.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace ipp::controller::sched {

using IdSet = std::unordered_set<std::string>;

struct Dependency {
  std::vector<std::string> ids;  // de-duplicated, in first-seen order
  bool all = true;
  bool success = true;
  bool failure = false;

  // Accepts what clients send: null / missing (empty), a msg_id string, a list of msg_ids
  // (all, success, !failure), or the dict form {"dependencies", "all", "success", "failure"}.
  // Errors (non-string ids, success and failure both false) are InvalidArgument; the scheduler
  // turns them into InvalidDependency.
  static Result<Dependency> from_json(const wire::Json& j);

  bool empty() const { return ids.empty(); }
  bool contains(const std::string& id) const;

  // Generic forms: `completed(id)` / `failed(id)` say whether id is in C / F.
  template <typename IsCompleted, typename IsFailed>
  bool met_if(IsCompleted&& completed, IsFailed&& failed) const {
    if (ids.empty()) return true;
    auto accepted = [&](const std::string& id) {
      return (success && completed(id)) || (failure && failed(id));
    };
    if (all) {
      for (const auto& id : ids)
        if (!accepted(id)) return false;
      return true;
    }
    for (const auto& id : ids)
      if (accepted(id)) return true;
    return false;
  }
  template <typename IsCompleted, typename IsFailed>
  bool unreachable_if(IsCompleted&& completed, IsFailed&& failed) const {
    if (ids.empty()) return false;
    auto rejected = [&](const std::string& id) {
      return (!success && completed(id)) || (!failure && failed(id));
    };
    if (all) {
      for (const auto& id : ids)
        if (rejected(id)) return true;
      return false;
    }
    for (const auto& id : ids)
      if (!rejected(id)) return false;
    return true;
  }

  bool met(const IdSet& completed, const IdSet& failed) const {
    return met_if([&](const std::string& id) { return completed.count(id) != 0; },
               [&](const std::string& id) { return failed.count(id) != 0; });
  }
  bool unreachable(const IdSet& completed, const IdSet& failed) const {
    return unreachable_if([&](const std::string& id) { return completed.count(id) != 0; },
                       [&](const std::string& id) { return failed.count(id) != 0; });
  }

  // The dict form clients send (Dependency.as_dict).
  wire::Json to_json() const;
};

}  // namespace ipp::controller::sched
