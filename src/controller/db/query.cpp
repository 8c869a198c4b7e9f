#include "ipp/controller/db/query.hpp"

#include "ipp/util/ids.hpp"

#include <fnmatch.h>

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace ipp::controller::db {

// ------------------------------------------------------------------------------------ errors

DbError key_error(std::string_view message) { return DbError{"KeyError", python_repr(message)}; }

DbError no_data() {
  // NoData.__str__ returns only the first literal (the second line of the source is a no-op).
  return DbError{"NoData", "NoDB backend doesn't store any data. "};
}

// ----------------------------------------------------------------------------- raw parts

Json raw_json(std::string_view text) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
  return Json::binary(std::vector<std::uint8_t>(p, p + text.size()), kRawJsonSubtype);
}

bool is_raw_json(const Json& v) {
  return v.is_binary() && v.get_binary().has_subtype() &&
         v.get_binary().subtype() == kRawJsonSubtype;
}

std::string_view raw_json_text(const Json& v) {
  const auto& b = v.get_binary();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void materialize(Json& fields) {
  if (!fields.is_object()) return;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    Json& value = it.value();
    if (!is_raw_json(value)) continue;
    const std::string_view text = raw_json_text(value);
    value = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = nullptr;
  }
}

TaskRecord select_keys(const TaskRecord& record, const KeySelection& keys) {
  if (!keys || keys->empty()) return record;
  TaskRecord out;
  auto id = record.fields.find("msg_id");
  out.fields["msg_id"] = id == record.fields.end() ? Json() : *id;
  for (const auto& k : *keys) {
    if (k == "buffers") {
      out.buffers = record.buffers;
    } else if (k == "result_buffers") {
      out.result_buffers = record.result_buffers;
    } else {
      auto it = record.fields.find(k);
      out.fields[k] = it == record.fields.end() ? Json() : *it;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------- comparisons

namespace {

std::optional<WallTime> as_date(const Json& j) {
  if (!j.is_string()) return std::nullopt;
  const auto& s = j.get_ref<const std::string&>();
  // Cheap reject before parsing: dates start with four digits and a dash.
  if (s.size() < 10 || s[4] != '-' || s[0] < '0' || s[0] > '9') return std::nullopt;
  return parse_iso8601(s);
}

bool is_num(const Json& j) { return j.is_number() || j.is_boolean(); }
double num(const Json& j) { return j.is_boolean() ? (j.get<bool>() ? 1.0 : 0.0) : j.get<double>(); }

// Python `a in b`.
bool contains(const Json& container, const Json& a) {
  if (container.is_array()) {
    for (const auto& e : container)
      if (values_equal(a, e)) return true;
    return false;
  }
  if (container.is_string()) {
    return a.is_string() && container.get_ref<const std::string&>().find(
                                a.get_ref<const std::string&>()) != std::string::npos;
  }
  if (container.is_object()) return a.is_string() && container.contains(a.get<std::string>());
  return false;
}

bool truthy(const Json& j) {
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number()) return num(j) != 0.0;
  if (j.is_string() || j.is_array() || j.is_object()) return !j.empty();
  return true;
}

bool op_test(const std::string& op, const Json& a, const Json& b) {
  if (op == "$lt") return value_less(a, b);
  if (op == "$gt") return value_less(b, a);
  if (op == "$lte") return value_less(a, b) || values_equal(a, b);
  if (op == "$gte") return value_less(b, a) || values_equal(a, b);
  if (op == "$eq") return values_equal(a, b);
  if (op == "$ne") return !values_equal(a, b);
  if (op == "$in") return contains(b, a);
  if (op == "$nin") return !contains(b, a);
  if (op == "$all") {
    if (!b.is_array()) return false;
    for (const auto& x : b)
      if (!contains(x, a)) return false;
    return true;
  }
  if (op == "$mod") {
    if (!b.is_array() || b.size() != 2 || !is_num(a) || !is_num(b[0]) || !is_num(b[1]))
      return false;
    const double d = num(b[0]);
    if (d == 0.0) return false;
    double r = std::fmod(num(a), d);
    if (r != 0.0 && ((r < 0) != (d < 0))) r += d;  // Python's sign-of-divisor modulo
    return r == num(b[1]);
  }
  if (op == "$exists") return truthy(b) ? !a.is_null() : a.is_null();
  if (op == "$glob") {
    if (!a.is_string() || !b.is_string()) return false;
    return ::fnmatch(b.get_ref<const std::string&>().c_str(),
                     a.get_ref<const std::string&>().c_str(), FNM_NOESCAPE) == 0;
  }
  return false;
}

bool known_op(const std::string& op) {
  static const char* const kOps[] = {"$lt", "$gt",  "$lte", "$gte", "$eq",     "$ne",
                                     "$in", "$nin", "$all", "$mod", "$exists", "$glob"};
  for (const char* k : kOps)
    if (op == k) return true;
  return false;
}

}  // namespace

bool values_equal(const Json& a, const Json& b) {
  if (is_num(a) && is_num(b)) return num(a) == num(b);
  if (a.is_string() && b.is_string()) {
    if (a.get_ref<const std::string&>() == b.get_ref<const std::string&>()) return true;
    auto da = as_date(a);
    if (!da) return false;
    auto db = as_date(b);
    return db && *da == *db;
  }
  if (a.type() != b.type()) return false;
  return a == b;
}

bool value_less(const Json& a, const Json& b) {
  if (is_num(a) && is_num(b)) return num(a) < num(b);
  if (a.is_string() && b.is_string()) {
    auto da = as_date(a);
    auto db = da ? as_date(b) : std::nullopt;
    if (da && db) return *da < *db;
    return a.get_ref<const std::string&>() < b.get_ref<const std::string&>();
  }
  if (a.is_array() && b.is_array()) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (value_less(a[i], b[i])) return true;
      if (!values_equal(a[i], b[i])) return false;
    }
    return a.size() < b.size();
  }
  return false;
}

DbStatus validate_query(const Json& query) {
  if (!query.is_object()) return DbError{"TypeError", "query must be a dict"};
  for (const auto& [key, value] : query.items()) {
    (void)key;
    if (!value.is_object()) continue;
    for (const auto& [op, arg] : value.items()) {
      (void)arg;
      if (!known_op(op)) return key_error(op);
    }
  }
  return Ok{};
}

bool matches(const Json& record, const Json& query) {
  static const Json kNull;
  for (const auto& [key, test] : query.items()) {
    auto it = record.find(key);
    const Json& a = it == record.end() ? kNull : *it;
    if (test.is_object()) {
      for (const auto& [op, b] : test.items())
        if (!op_test(op, a, b)) return false;
    } else if (!values_equal(a, test)) {
      return false;
    }
  }
  return true;
}

}  // namespace ipp::controller::db
