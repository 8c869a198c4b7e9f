#include "ipp/controller/sched/dependency.hpp"

#include <algorithm>

namespace ipp::controller::sched {

namespace {

Status add_ids(const wire::Json& j, Dependency& dep) {
  auto add = [&](const std::string& id) {
    if (std::find(dep.ids.begin(), dep.ids.end(), id) == dep.ids.end()) dep.ids.push_back(id);
  };
  if (j.is_null()) return Ok{};
  if (j.is_string()) {
    add(j.get<std::string>());
    return Ok{};
  }
  if (!j.is_array()) return make_error(ErrorCode::InvalidArgument, "dependency is not a list");
  for (const auto& e : j) {
    if (!e.is_string())
      return make_error(ErrorCode::InvalidArgument, "invalid dependency type: " + e.dump());
    add(e.get<std::string>());
  }
  return Ok{};
}

// Python truthiness for the flags, tolerant of 0/1 and null.
bool truthy(const wire::Json& j, bool dflt) {
  if (j.is_null()) return dflt;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number()) return j.get<double>() != 0.0;
  if (j.is_string()) return !j.get<std::string>().empty();
  return !j.empty();
}

}  // namespace

Result<Dependency> Dependency::from_json(const wire::Json& j) {
  Dependency dep;
  if (j.is_object()) {
    auto flag = [&](const char* key, bool dflt) {
      auto it = j.find(key);
      return it == j.end() ? dflt : truthy(*it, dflt);
    };
    dep.all = flag("all", true);
    dep.success = flag("success", true);
    dep.failure = flag("failure", false);
    auto it = j.find("dependencies");
    if (it != j.end()) {
      auto st = add_ids(*it, dep);
      if (!st) return st.error();
    }
  } else {
    auto st = add_ids(j, dep);
    if (!st) return st.error();
  }
  if (!dep.success && !dep.failure)
    return make_error(ErrorCode::InvalidArgument,
                      "Must depend on at least one of successes or failures!");
  return dep;
}

bool Dependency::contains(const std::string& id) const {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

wire::Json Dependency::to_json() const {
  wire::Json j = wire::Json::object();
  j["dependencies"] = ids;
  j["all"] = all;
  j["success"] = success;
  j["failure"] = failure;
  return j;
}

}  // namespace ipp::controller::sched
