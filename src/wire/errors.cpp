#include <ipp/wire/errors.hpp>

namespace ipp::wire {

std::string python_repr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c == static_cast<unsigned char>(quote)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += quote;
  return out;
}

Json wrap_exception(std::string_view ename, std::string_view evalue, std::string_view where) {
  Json tb = Json::array();
  tb.push_back("Traceback (most recent call last):\n");
  tb.push_back("  File \"" + std::string(where) + "\", in <module>\n");
  std::string last(ename);
  if (!evalue.empty()) last += ": " + std::string(evalue);
  tb.push_back(last + "\n");
  return Json{{"status", "error"},
              {"ename", ename},
              {"evalue", evalue},
              {"traceback", tb},
              {"engine_info", Json::object()}};
}

}  // namespace ipp::wire
