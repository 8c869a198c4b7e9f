#include "ipp/config/py_literal.hpp"

#include "py_source.hpp"

namespace ipp::config {

std::optional<ConfigTree> parse_python_literal(std::string_view text) {
  return detail::parse_literal_source(text);
}

namespace {

void repr_string(std::string& out, const std::string& s) {
  // Python picks single quotes unless the text holds a single quote and no double quote.
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  static constexpr char kHex[] = "0123456789abcdef";
  out += q;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '\\' || ch == q) {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += q;
}

void repr(std::string& out, const ConfigTree& v) {
  switch (v.type()) {
    case ConfigTree::value_t::null:
      out += "None";
      break;
    case ConfigTree::value_t::boolean:
      out += v.get<bool>() ? "True" : "False";
      break;
    case ConfigTree::value_t::string:
      repr_string(out, v.get_ref<const std::string&>());
      break;
    case ConfigTree::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ", ";
        first = false;
        repr(out, item);
      }
      out += ']';
      break;
    }
    case ConfigTree::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ", ";
        first = false;
        repr_string(out, key);
        out += ": ";
        repr(out, item);
      }
      out += '}';
      break;
    }
    default:  // numbers: nlohmann prints 1.0, 0.1 and 1e+16 the way Python's repr does
      out += v.dump();
      break;
  }
}

}  // namespace

std::string python_repr(const ConfigTree& value) {
  std::string out;
  repr(out, value);
  return out;
}

std::string python_str(const ConfigTree& value) {
  if (value.is_string()) return value.get<std::string>();
  return python_repr(value);
}

}  // namespace ipp::config
