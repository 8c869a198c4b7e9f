#include "ipp/config/lookup.hpp"

#include "ipp/config/error.hpp"
#include "ipp/config/py_literal.hpp"

#include <limits>

namespace ipp::config {
namespace {

using StringMap = std::map<std::string, std::string>;
using StringList = std::vector<std::string>;
using IntList = std::vector<int>;

// Names the setting being converted, for the error message.
struct Where {
  std::string_view origin;
  std::string_view cls;
  std::string_view trait;
};

[[noreturn]] void mismatch(const Where& w, std::string_view expected, const ConfigTree& value) {
  std::string msg(w.origin.empty() ? std::string_view("config") : w.origin);
  msg += ": c.";
  msg += w.cls;
  msg += '.';
  msg += w.trait;
  msg += " must be ";
  msg += expected;
  msg += ", got ";
  msg += python_repr(value);
  throw ConfigError(msg);
}

const ConfigTree* find(const ConfigTree& tree, std::string_view cls, std::string_view trait) {
  if (!tree.is_object()) return nullptr;
  const auto section = tree.find(std::string(cls));
  if (section == tree.end() || !section->is_object()) return nullptr;
  const auto value = section->find(std::string(trait));
  return value == section->end() ? nullptr : &*value;
}

// Python's str() of a scalar; nullopt for containers and None.
std::optional<std::string> scalar_text(const ConfigTree& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "True" : "False");
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

std::optional<int> int_value(const ConfigTree& v) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    return static_cast<int>(u);
  }
  const auto i = v.get<std::int64_t>();
  if (i < std::numeric_limits<int>::min() || i > std::numeric_limits<int>::max())
    return std::nullopt;
  return static_cast<int>(i);
}

template <class T>
T convert(const ConfigTree& v, const Where& w) {
  if constexpr (std::is_same_v<T, ConfigTree>) {
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer() && (v.get<std::int64_t>() == 0 || v.get<std::int64_t>() == 1)) {
      return v.get<std::int64_t>() == 1;
    }
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (s == "true" || s == "1") return true;
      if (s == "false" || s == "0") return false;
    }
    mismatch(w, "a bool", v);
  } else if constexpr (std::is_same_v<T, int>) {
    if (const auto i = int_value(v)) return *i;
    mismatch(w, "an int", v);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (v.is_number_integer() &&
        !(v.is_number_unsigned() &&
          v.get<std::uint64_t>() >
              static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      return v.get<std::int64_t>();
    }
    mismatch(w, "an int", v);
  } else if constexpr (std::is_same_v<T, double>) {
    if (v.is_number()) return v.get<double>();
    mismatch(w, "a float", v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (const auto s = scalar_text(v)) return *s;
    mismatch(w, "a str", v);
  } else if constexpr (std::is_same_v<T, StringList>) {
    StringList out;
    if (v.is_array()) {
      for (const auto& item : v) {
        const auto s = scalar_text(item);
        if (!s) mismatch(w, "a list of str", v);
        out.push_back(*s);
      }
      return out;
    }
    if (const auto s = scalar_text(v)) return StringList{*s};
    mismatch(w, "a list of str", v);
  } else if constexpr (std::is_same_v<T, IntList>) {
    IntList out;
    if (v.is_array()) {
      for (const auto& item : v) {
        const auto i = int_value(item);
        if (!i) mismatch(w, "a list of int", v);
        out.push_back(*i);
      }
      return out;
    }
    if (const auto i = int_value(v)) return IntList{*i};
    mismatch(w, "a list of int", v);
  } else if constexpr (std::is_same_v<T, StringMap>) {
    StringMap out;
    if (v.is_object()) {
      for (const auto& [key, item] : v.items()) {
        const auto s = scalar_text(item);
        if (!s) mismatch(w, "a dict of str", v);
        out[key] = *s;
      }
      return out;
    }
    // The command-line form: one "KEY=VALUE" per repeated option.
    const auto add_pair = [&](const ConfigTree& item) {
      if (!item.is_string()) mismatch(w, "a dict (or KEY=VALUE strings)", v);
      const std::string s = item.get<std::string>();
      const auto eq = s.find('=');
      if (eq == std::string::npos) mismatch(w, "a dict (or KEY=VALUE strings)", v);
      out[s.substr(0, eq)] = s.substr(eq + 1);
    };
    if (v.is_array()) {
      for (const auto& item : v) add_pair(item);
    } else {
      add_pair(v);
    }
    return out;
  } else {
    static_assert(sizeof(T) == 0, "unsupported config type");
  }
}

std::string origin_of(const LoadedConfig& config, std::string_view cls, std::string_view trait) {
  std::string key(cls);
  key += '.';
  key += trait;
  const auto it = config.origins.find(key);
  return it == config.origins.end() ? std::string() : it->second;
}

template <class Range>
std::optional<std::string_view> first_class_setting(const ConfigTree& tree, const Range& classes,
                                                    std::string_view trait) {
  for (const auto& cls : classes) {
    if (find(tree, cls, trait)) return std::string_view(cls);
  }
  return std::nullopt;
}

}  // namespace

template <class T>
std::optional<T> get(const ConfigTree& tree, std::string_view cls, std::string_view trait,
                     std::string_view origin) {
  const ConfigTree* v = find(tree, cls, trait);
  if (!v) return std::nullopt;
  return convert<T>(*v, Where{origin, cls, trait});
}

template <class T>
std::optional<T> get(const ConfigTree& tree, std::initializer_list<std::string_view> classes,
                     std::string_view trait, std::string_view origin) {
  const auto cls = first_class_setting(tree, classes, trait);
  if (!cls) return std::nullopt;
  return get<T>(tree, *cls, trait, origin);
}

template <class T>
std::optional<T> get(const ConfigTree& tree, const std::vector<std::string>& classes,
                     std::string_view trait, std::string_view origin) {
  const auto cls = first_class_setting(tree, classes, trait);
  if (!cls) return std::nullopt;
  return get<T>(tree, *cls, trait, origin);
}

template <class T>
std::optional<T> get(const LoadedConfig& config, std::string_view cls, std::string_view trait) {
  return get<T>(config.tree, cls, trait, origin_of(config, cls, trait));
}

template <class T>
std::optional<T> get(const LoadedConfig& config, std::initializer_list<std::string_view> classes,
                     std::string_view trait) {
  const auto cls = first_class_setting(config.tree, classes, trait);
  if (!cls) return std::nullopt;
  return get<T>(config, *cls, trait);
}

#define IPP_CONFIG_INSTANTIATE_GET(T)                                                            \
  template std::optional<T> get<T>(const ConfigTree&, std::string_view, std::string_view,        \
                                   std::string_view);                                            \
  template std::optional<T> get<T>(const ConfigTree&, std::initializer_list<std::string_view>,   \
                                   std::string_view, std::string_view);                          \
  template std::optional<T> get<T>(const ConfigTree&, const std::vector<std::string>&,           \
                                   std::string_view, std::string_view);                          \
  template std::optional<T> get<T>(const LoadedConfig&, std::string_view, std::string_view);     \
  template std::optional<T> get<T>(const LoadedConfig&, std::initializer_list<std::string_view>, \
                                   std::string_view);

IPP_CONFIG_INSTANTIATE_GET(bool)
IPP_CONFIG_INSTANTIATE_GET(int)
IPP_CONFIG_INSTANTIATE_GET(std::int64_t)
IPP_CONFIG_INSTANTIATE_GET(double)
IPP_CONFIG_INSTANTIATE_GET(std::string)
IPP_CONFIG_INSTANTIATE_GET(StringList)
IPP_CONFIG_INSTANTIATE_GET(IntList)
IPP_CONFIG_INSTANTIATE_GET(StringMap)
IPP_CONFIG_INSTANTIATE_GET(ConfigTree)

#undef IPP_CONFIG_INSTANTIATE_GET

}  // namespace ipp::config
