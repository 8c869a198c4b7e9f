#include <ipp/cluster/batch_template.hpp>
#include <ipp/cluster/ssh.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <cstdio>

namespace ipp::cluster {

namespace {

// Recursive-descent evaluator for the expression subset EvalFormatter templates use in practice.
class Evaluator {
 public:
  Evaluator(std::string_view text, const TemplateNamespace& ns) : s_(text), ns_(ns) {}

  TemplateValue run() {
    TemplateValue v = sum();
    skip_space();
    if (pos_ != s_.size()) fail("unexpected '" + std::string(s_.substr(pos_)) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw TemplateError("template field {" + std::string(s_) + "}: " + why);
  }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }

  bool eat(std::string_view op) {
    skip_space();
    if (s_.substr(pos_, op.size()) == op) {
      pos_ += op.size();
      return true;
    }
    return false;
  }

  TemplateValue sum() {
    TemplateValue v = product();
    for (;;) {
      if (eat("+")) {
        v = binary('+', v, product());
      } else if (eat("-")) {
        v = binary('-', v, product());
      } else {
        return v;
      }
    }
  }

  TemplateValue product() {
    TemplateValue v = unary();
    for (;;) {
      if (eat("//")) {
        v = binary('f', v, unary());
      } else if (eat("*")) {
        v = binary('*', v, unary());
      } else if (eat("/")) {
        v = binary('/', v, unary());
      } else if (eat("%")) {
        v = binary('%', v, unary());
      } else {
        return v;
      }
    }
  }

  // Parentheses, unary signs and call arguments nest by recursion, every level through unary():
  // a field of thousands of '(' would overflow the stack, so more than 100 levels are refused
  // (Python's parser stops at 200).
  struct Nesting {
    explicit Nesting(Evaluator& e) : e_(e) {
      if (++e_.depth_ > kMaxDepth) e_.fail("too deeply nested (more than 100 levels)");
    }
    ~Nesting() { --e_.depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
    Evaluator& e_;
  };
  static constexpr int kMaxDepth = 100;

  TemplateValue unary() {
    Nesting nesting(*this);
    if (eat("-")) {
      TemplateValue v = unary();
      if (auto* i = std::get_if<long long>(&v)) return -*i;
      if (auto* d = std::get_if<double>(&v)) return -*d;
      fail("bad operand type for unary -: 'str'");
    }
    if (eat("+")) return unary();
    return atom();
  }

  TemplateValue atom() {
    skip_space();
    if (pos_ >= s_.size()) fail("expression ends early");
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      TemplateValue v = sum();
      if (!eat(")")) fail("missing ')'");
      return v;
    }
    if (c == '\'' || c == '"') return string_literal(c);
    if (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.') return number();
    if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
      std::size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) != 0 || s_[pos_] == '_')) {
        ++pos_;
      }
      const std::string name(s_.substr(start, pos_ - start));
      auto it = ns_.find(name);
      if (it == ns_.end()) fail("name '" + name + "' is not defined");
      return it->second;
    }
    fail("unsupported expression (names, numbers, strings, + - * / // % and parentheses only)");
  }

  TemplateValue string_literal(char quote) {
    ++pos_;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) {
        const char e = s_[++pos_];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += s_[pos_];
      }
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }

  TemplateValue number() {
    std::size_t start = pos_;
    bool is_float = false;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) != 0 ||
                                s_[pos_] == '.' || s_[pos_] == '_')) {
      is_float = is_float || s_[pos_] == '.';
      ++pos_;
    }
    std::string digits;
    for (char ch : s_.substr(start, pos_ - start)) {
      if (ch != '_') digits += ch;
    }
    if (is_float) {
      double d = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
      if (ec != std::errc() || p != digits.data() + digits.size()) fail("bad number " + digits);
      return d;
    }
    long long v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || p != digits.data() + digits.size()) fail("bad number " + digits);
    return v;
  }

  TemplateValue binary(char op, const TemplateValue& a, const TemplateValue& b) {
    const auto* as = std::get_if<std::string>(&a);
    const auto* bs = std::get_if<std::string>(&b);
    // A batch script line has no use for megabytes of text: longer results are refused rather
    // than allocated (Python would build them, or fail with MemoryError).
    constexpr std::size_t kMaxText = std::size_t{1} << 20;
    auto too_long = [&](double chars) {
      // chars may be beyond any integer type (a repeat count near 2^63 times a long string)
      char count[32];
      std::snprintf(count, sizeof count, "%.0f", chars);
      fail(std::string("the result would be ") + count + " characters long (at most " +
           std::to_string(kMaxText) + ")");
    };
    if (as != nullptr || bs != nullptr) {
      if (op == '+' && as != nullptr && bs != nullptr) {
        if (as->size() + bs->size() > kMaxText) too_long(double(as->size() + bs->size()));
        return *as + *bs;
      }
      const auto* count = std::get_if<long long>(as != nullptr ? &b : &a);
      if (op == '*' && count != nullptr) {
        const std::string& unit = as != nullptr ? *as : *bs;
        if (*count > 0 && double(unit.size()) * double(*count) > double(kMaxText)) {
          too_long(double(unit.size()) * double(*count));
        }
        std::string out;
        if (*count <= 0 || unit.empty()) return out;
        const std::size_t total = unit.size() * static_cast<std::size_t>(*count);
        out.reserve(total);
        out = unit;
        while (out.size() * 2 <= total) out += out;  // doubling: a few appends, not count
        out.append(out, 0, total - out.size());
        return out;
      }
      fail(std::string("unsupported operand types for ") + (op == 'f' ? "//" : std::string(1, op)));
    }
    const auto* ai = std::get_if<long long>(&a);
    const auto* bi = std::get_if<long long>(&b);
    if (ai != nullptr && bi != nullptr && op != '/') {
      const long long x = *ai;
      const long long y = *bi;
      long long r = 0;
      bool overflow = false;
      switch (op) {
        case '+':
          overflow = __builtin_add_overflow(x, y, &r);
          break;
        case '-':
          overflow = __builtin_sub_overflow(x, y, &r);
          break;
        case '*':
          overflow = __builtin_mul_overflow(x, y, &r);
          break;
        default:
          overflow = y == -1 && x == std::numeric_limits<long long>::min();
          break;
      }
      // Python's integers have no limit; a template's numbers beyond 64 bits are an error here.
      if (overflow) fail("integer overflow in " + std::to_string(x) + " " + std::string(1, op == 'f' ? '/' : op) + " " + std::to_string(y));
      if (op == '+' || op == '-' || op == '*') return r;
      if (y == 0) fail("division by zero");
      long long q = x / y;
      r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {  // Python floors toward negative infinity
        q -= 1;
        r += y;
      }
      return op == 'f' ? q : r;
    }
    const double x = ai != nullptr ? static_cast<double>(*ai) : std::get<double>(a);
    const double y = bi != nullptr ? static_cast<double>(*bi) : std::get<double>(b);
    switch (op) {
      case '+':
        return x + y;
      case '-':
        return x - y;
      case '*':
        return x * y;
      default:
        break;
    }
    if (y == 0) fail("division by zero");
    if (op == '/') return x / y;
    if (op == 'f') return std::floor(x / y);
    double r = std::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }

  std::string_view s_;
  const TemplateNamespace& ns_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

std::string python_repr_str(const std::string& s) {
  const char quote =
      s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == quote) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out + quote;
}

// Python's format(value, spec) for the spec subset [[fill]align][0][width][.precision][type].
std::string apply_spec(const TemplateValue& v, std::string_view spec, std::string_view field) {
  if (spec.empty()) return template_str(v);
  auto bad = [&] {
    throw TemplateError("template field {" + std::string(field) + "}: unsupported format spec '" +
                        std::string(spec) + "'");
  };
  std::size_t i = 0;
  char fill = ' ';
  char align = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (spec.size() >= 2 && is_align(spec[1])) {
    fill = spec[0];
    align = spec[1];
    i = 2;
  } else if (is_align(spec[0])) {
    align = spec[0];
    i = 1;
  }
  if (i < spec.size() && spec[i] == '0' && align == 0) {
    fill = '0';
    align = '=';
    ++i;
  }
  // A width or precision beyond any script line is refused rather than allocated (Python
  // would try, and fail with MemoryError or OverflowError).
  constexpr std::size_t kMaxWidth = 4096;
  auto number = [&](const char* what) {
    std::size_t n = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])) != 0) {
      n = n * 10 + static_cast<std::size_t>(spec[i++] - '0');
      if (n > kMaxWidth) {
        throw TemplateError("template field {" + std::string(field) + "}: format " + what +
                            " in '" + std::string(spec) + "' is too large (at most " +
                            std::to_string(kMaxWidth) + ")");
      }
    }
    return n;
  };
  const std::size_t width = number("width");
  int precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = static_cast<int>(number("precision"));
  }
  char type = i < spec.size() ? spec[i++] : 0;
  if (i != spec.size()) bad();
  std::string body;
  const bool numeric = !std::holds_alternative<std::string>(v);
  if (type == 0 || type == 's' || type == 'd') {
    if (type == 's' && numeric) bad();
    if (type == 'd' && !std::holds_alternative<long long>(v)) bad();
    body = template_str(v);
    if (precision >= 0 && !numeric) body = body.substr(0, static_cast<std::size_t>(precision));
  } else if (type == 'f' && numeric) {
    const double d = std::holds_alternative<long long>(v)
                         ? static_cast<double>(std::get<long long>(v))
                         : std::get<double>(v);
    const int n = std::snprintf(nullptr, 0, "%.*f", precision < 0 ? 6 : precision, d);
    body.assign(static_cast<std::size_t>(n > 0 ? n : 0) + 1, '\0');
    std::snprintf(body.data(), body.size(), "%.*f", precision < 0 ? 6 : precision, d);
    body.pop_back();
  } else {
    bad();
  }
  if (align == 0) align = numeric ? '>' : '<';
  if (body.size() >= width) return body;
  const std::size_t pad = width - body.size();
  switch (align) {
    case '<':
      return body + std::string(pad, fill);
    case '^':
      return std::string(pad / 2, fill) + body + std::string(pad - pad / 2, fill);
    case '=':
      if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
        return body.substr(0, 1) + std::string(pad, fill) + body.substr(1);
      }
      return std::string(pad, fill) + body;
    default:
      return std::string(pad, fill) + body;
  }
}

}  // namespace

std::string template_str(const TemplateValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<long long>(&v)) return std::to_string(*i);
  const double d = std::get<double>(v);
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip, as repr()
  std::string out(buf, end);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

std::string render_template(std::string_view t, const TemplateNamespace& ns) {
  std::string out;
  std::size_t i = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '}') {
      if (i + 1 < t.size() && t[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw TemplateError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < t.size() && t[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    // A field runs to the matching '}' (nested braces belong to the format spec).
    std::size_t depth = 1;
    std::size_t j = i + 1;
    for (; j < t.size() && depth > 0; ++j) {
      if (t[j] == '{') ++depth;
      if (t[j] == '}') --depth;
    }
    if (depth != 0) throw TemplateError("Single '{' encountered in format string");
    std::string_view field = t.substr(i + 1, j - i - 2);
    i = j;
    // field_name[!conversion][:spec]; like Python's parser, '!' and ':' end the name.
    std::size_t name_end = field.find_first_of("!:");
    std::string_view name = field.substr(0, name_end);
    char conversion = 0;
    std::string_view spec;
    if (name_end != std::string_view::npos) {
      std::string_view rest = field.substr(name_end);
      if (rest[0] == '!') {
        if (rest.size() < 2) throw TemplateError("end of string while looking for conversion");
        conversion = rest[1];
        rest = rest.substr(2);
        if (!rest.empty() && rest[0] != ':') {
          throw TemplateError("expected ':' after conversion specifier in {" + std::string(field) +
                              "}");
        }
      }
      if (!rest.empty()) spec = rest.substr(1);
    }
    if (name.empty()) {
      throw TemplateError("template field {" + std::string(field) +
                          "}: positional fields are not supported in batch templates");
    }
    TemplateValue v = Evaluator(name, ns).run();
    if (conversion == 'r' || conversion == 'a') {
      if (const auto* s = std::get_if<std::string>(&v)) v = python_repr_str(*s);
    } else if (conversion != 0 && conversion != 's') {
      throw TemplateError(std::string("Unknown conversion specifier ") + conversion);
    }
    if (conversion != 0) v = template_str(v);
    out += apply_spec(v, spec, field);
  }
  return out;
}

std::string shlex_quote(const std::string& s) {
  if (s.empty()) return "''";
  return shell_quote(s);
}

std::string shlex_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + shlex_quote(a);
  return out;
}

}  // namespace ipp::cluster
