#include "py_source.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>

namespace ipp::config::detail {

using Json = ConfigTree;

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::size_t find_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + len > text.size()) return i;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 (and nlohmann refuses
    // to dump them).
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {

bool is_name_start(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalpha(u) != 0 || c == '_' || u >= 0x80;
}
bool is_name_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || u >= 0x80;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_newline(char c) { return c == '\n' || c == '\r'; }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool one_of(char c, std::string_view set) {
  return c != '\0' && set.find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Splits Python source into tokens. Role: the first half of the native config reader; one
// instance per call, used on the calling thread only.
class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  LexResult run() {
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    if (const auto bad = find_invalid_utf8(src_); bad != std::string_view::npos) {
      // Python honours a `# -*- coding: latin-1 -*-` cookie; the native reader does not.
      int line = 1;
      for (std::size_t k = 0; k < bad; ++k) line += src_[k] == '\n' ? 1 : 0;
      out_.problem = SourceProblem{line, "the file is not UTF-8", false};
      return std::move(out_);
    }
    bool line_start = true;
    while (pos_ < src_.size() && !out_.problem) {
      if (line_start && depth_ == 0) {
        line_start = false;
        std::size_t j = pos_;
        while (j < src_.size() && one_of(src_[j], " \t\f")) ++j;
        if (j > pos_ && j < src_.size() && src_[j] != '#' && !is_newline(src_[j])) {
          emit(TokenKind::Indent, std::string(src_.substr(pos_, j - pos_)));
        }
        pos_ = j;
        continue;
      }
      const char c = src_[pos_];
      if (c == '#') {
        while (pos_ < src_.size() && !is_newline(src_[pos_])) ++pos_;
      } else if (is_newline(c)) {
        const int ended = line_;
        consume_newline();
        if (depth_ == 0) {
          out_.tokens.push_back(Token{TokenKind::Newline, "", ended, false, {}});
          line_start = true;
        }
      } else if (one_of(c, " \t\f")) {
        ++pos_;
      } else if (c == '\\') {
        if (pos_ + 1 < src_.size() && is_newline(src_[pos_ + 1])) {
          ++pos_;
          consume_newline();
        } else {
          fail("unexpected character after line continuation character", true);
        }
      } else if (is_name_start(c)) {
        lex_name_or_prefixed_string();
      } else if (is_digit(c) || (c == '.' && pos_ + 1 < src_.size() && is_digit(src_[pos_ + 1]))) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        lex_string(false, false, false);
      } else if (one_of(c, "([{")) {
        ++depth_;
        open_brackets_.emplace_back(line_, c);
        emit(TokenKind::Op, std::string(1, c));
        ++pos_;
      } else if (one_of(c, ")]}")) {
        if (depth_ == 0) {
          fail(std::string("unmatched '") + c + "'", true);
        } else {
          --depth_;
          open_brackets_.pop_back();
          emit(TokenKind::Op, std::string(1, c));
          ++pos_;
        }
      } else if (one_of(c, "+-*/%&|^~<>=!.,:;@")) {
        emit(TokenKind::Op, std::string(1, c));
        ++pos_;
      } else {
        fail("invalid character in the source", true);
      }
    }
    if (!out_.problem && depth_ > 0) {
      fail(std::string("'") + open_brackets_.back().second + "' was never closed", true,
           open_brackets_.back().first);
    }
    out_.tokens.push_back(Token{TokenKind::Newline, "", line_, false, {}});
    out_.tokens.push_back(Token{TokenKind::End, "", line_, false, {}});
    return std::move(out_);
  }

 private:
  void emit(TokenKind kind, std::string text) {
    out_.tokens.push_back(Token{kind, std::move(text), line_, false, {}});
  }
  void fail(std::string reason, bool syntax, int line = 0) {
    if (!out_.problem) out_.problem = SourceProblem{line ? line : line_, std::move(reason), syntax};
    pos_ = src_.size();
  }
  // Consumes "\n", "\r\n" or "\r" at pos_.
  void consume_newline() {
    if (src_[pos_] == '\r' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '\n') ++pos_;
    ++pos_;
    ++line_;
  }

  void lex_name_or_prefixed_string() {
    const std::size_t start = pos_;
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    const std::string_view word = src_.substr(start, pos_ - start);
    if (pos_ < src_.size() && (src_[pos_] == '\'' || src_[pos_] == '"') && word.size() <= 2) {
      const std::string prefix = lower(word);
      static constexpr std::string_view kPrefixes[] = {"r", "u", "b", "br", "rb", "f", "fr", "rf"};
      for (const auto p : kPrefixes) {
        if (prefix == p) {
          lex_string(prefix.find('r') != std::string::npos, prefix.find('b') != std::string::npos,
                     prefix.find('f') != std::string::npos);
          return;
        }
      }
    }
    emit(TokenKind::Name, std::string(word));
  }

  void lex_number() {
    const std::size_t start = pos_;
    const bool prefixed =
        src_[pos_] == '0' && pos_ + 1 < src_.size() && one_of(src_[pos_ + 1], "xXoObB");
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      const bool part = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.';
      const bool exponent_sign = one_of(c, "+-") && !prefixed && one_of(src_[pos_ - 1], "eE");
      if (!part && !exponent_sign) break;
      ++pos_;
    }
    emit(TokenKind::Number, std::string(src_.substr(start, pos_ - start)));
  }

  void lex_string(bool raw, bool bytes, bool fstring) {
    const int start_line = line_;
    const char q = src_[pos_];
    const bool triple = pos_ + 2 < src_.size() && src_[pos_ + 1] == q && src_[pos_ + 2] == q;
    pos_ += triple ? 3 : 1;
    Token tok{TokenKind::String, "", start_line, bytes, {}};
    if (fstring) tok.unsupported = "an f-string";
    std::string& out = tok.text;
    const auto put = [&](std::uint32_t v) {
      if (bytes) {
        out += static_cast<char>(v & 0xFF);
      } else {
        append_utf8(out, v);
      }
    };
    while (true) {
      if (pos_ >= src_.size()) return fail("unterminated string literal", true, start_line);
      const char c = src_[pos_];
      if (c == q) {
        if (!triple) {
          ++pos_;
          break;
        }
        if (pos_ + 2 < src_.size() && src_[pos_ + 1] == q && src_[pos_ + 2] == q) {
          pos_ += 3;
          break;
        }
        out += c;
        ++pos_;
        continue;
      }
      if (is_newline(c)) {
        if (!triple) return fail("unterminated string literal", true, start_line);
        consume_newline();
        out += '\n';
        continue;
      }
      if (c != '\\') {
        if (bytes && static_cast<unsigned char>(c) >= 0x80) {
          return fail("bytes can only contain ASCII literal characters", true);
        }
        out += c;
        ++pos_;
        continue;
      }
      if (pos_ + 1 >= src_.size()) return fail("unterminated string literal", true, start_line);
      const char e = src_[pos_ + 1];
      if (raw) {
        // A raw string keeps the backslash, but the escaped quote still does not end it.
        out += '\\';
        ++pos_;
        if (is_newline(e)) {
          consume_newline();
          out += '\n';
        } else {
          out += e;
          ++pos_;
        }
        continue;
      }
      if (is_newline(e)) {
        ++pos_;
        consume_newline();
        continue;
      }
      pos_ += 2;
      switch (e) {
        case '\\':
        case '\'':
        case '"':
          out += e;
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
          std::uint32_t v = static_cast<std::uint32_t>(e - '0');
          for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
               ++k) {
            v = v * 8 + static_cast<std::uint32_t>(src_[pos_++] - '0');
          }
          put(v);
          break;
        }
        case 'x':
        case 'u':
        case 'U': {
          if (bytes && e != 'x') {
            out += '\\';
            out += e;
            break;
          }
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          std::uint32_t v = 0;
          for (int k = 0; k < digits; ++k) {
            const int h = pos_ < src_.size() ? hex_value(src_[pos_]) : -1;
            if (h < 0) return fail(std::string("truncated \\") + e + " escape", true);
            v = v * 16 + static_cast<std::uint32_t>(h);
            ++pos_;
          }
          if (v > 0x10FFFF) return fail("illegal Unicode character escape", true);
          if (!bytes && v >= 0xD800 && v <= 0xDFFF) {
            tok.unsupported = "a surrogate escape";
            break;
          }
          put(v);
          break;
        }
        case 'N':
          if (bytes) {
            out += "\\N";
          } else {
            tok.unsupported = "a \\N{...} escape";
          }
          break;
        default:
          // Python keeps unknown escapes as written (with a DeprecationWarning).
          out += '\\';
          out += e;
          break;
      }
    }
    out_.tokens.push_back(std::move(tok));
  }

  std::string_view src_;
  std::size_t pos_ = 0;
  int line_ = 1;
  int depth_ = 0;
  std::vector<std::pair<int, char>> open_brackets_;  // line and char, innermost last
  LexResult out_;
};

// Python's int/float literal grammar, minus complex numbers. nullopt for anything else.
std::optional<Json> number_value(std::string_view text) {
  if (text.empty() || text.back() == '_' || text.find("__") != std::string_view::npos) return {};
  std::string t;
  for (const char c : text) {
    if (c != '_') t += c;
  }
  if (t.size() > 1 && t[0] == '0' && one_of(t[1], "xXoObB")) {
    const int base = one_of(t[1], "xX") ? 16 : one_of(t[1], "oO") ? 8 : 2;
    std::int64_t v = 0;
    const char* b = t.data() + 2;
    const char* e = t.data() + t.size();
    if (b == e) return {};
    const auto r = std::from_chars(b, e, v, base);
    if (r.ec != std::errc() || r.ptr != e) return {};
    return Json(v);
  }
  if (t.find_first_of(".eE") != std::string::npos) {
    for (const char c : t) {
      if (!is_digit(c) && !one_of(c, ".eE+-")) return {};
    }
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return {};
    return Json(v);
  }
  for (const char c : t) {
    if (!is_digit(c)) return {};
  }
  // "007" is a syntax error in Python 3; "000" is fine.
  if (t.size() > 1 && t[0] == '0' && t.find_first_not_of('0') != std::string::npos) return {};
  std::int64_t v = 0;
  const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
  if (r.ec != std::errc() || r.ptr != t.data() + t.size()) return {};
  return Json(v);
}

std::string bytes_repr(std::string_view raw) {
  const bool dq =
      raw.find('\'') != std::string_view::npos && raw.find('"') == std::string_view::npos;
  const char q = dq ? '"' : '\'';
  std::string out = "b";
  out += q;
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : raw) {
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
    } else if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += q;
  return out;
}

// Turns tokens into config. Role: the second half of the native reader; one instance per call.
class Parser {
 public:
  explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

  NativeConfig parse_file() {
    NativeConfig out;
    while (!problem_) {
      const Token& tok = peek();
      if (tok.kind == TokenKind::End) break;
      if (tok.kind == TokenKind::Newline || is_op(tok, ';')) {
        ++i_;
        continue;
      }
      statement(out.tree);
      if (!problem_ && !at_statement_end()) {
        unsupported(peek(), "an expression beyond the literal subset");
      }
    }
    if (problem_) out.problem = problem_;
    return out;
  }

  std::optional<Json> parse_whole_literal() {
    auto v = tuple_or_expr();
    if (!v || problem_ || !at_statement_end() || is_op(peek(), ';')) return {};
    return v;
  }

 private:
  const Token& peek(std::size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  static bool is_op(const Token& t, char c) {
    return t.kind == TokenKind::Op && t.text.size() == 1 && t.text[0] == c;
  }
  bool at_statement_end() const {
    const Token& t = peek();
    return t.kind == TokenKind::Newline || t.kind == TokenKind::End || is_op(t, ';');
  }
  void unsupported(const Token& at, std::string reason) {
    if (!problem_) problem_ = SourceProblem{at.line, std::move(reason), false};
  }

  static std::string describe(const Token& tok) {
    switch (tok.kind) {
      case TokenKind::Indent:
        return "an indented block";
      case TokenKind::Name:
      case TokenKind::Op:
        return "`" + tok.text + "`";
      default:
        return "this statement";
    }
  }

  void statement(Json& tree) {
    const Token& tok = peek();
    if (tok.kind == TokenKind::String) {  // a docstring
      atom();
      return;
    }
    if (tok.kind == TokenKind::Name && tok.text == "pass") {
      ++i_;
      return;
    }
    if (tok.kind == TokenKind::Name && tok.text == "c") {
      if (is_op(peek(1), '=') && !is_op(peek(2), '=')) {
        if (peek(2).kind == TokenKind::Name && peek(2).text == "get_config" &&
            is_op(peek(3), '(') && is_op(peek(4), ')')) {
          i_ += 5;
          return;
        }
        return unsupported(tok, "`c` assigned something other than get_config()");
      }
      if (is_op(peek(1), '.') && peek(2).kind == TokenKind::Name && is_op(peek(3), '.') &&
          peek(4).kind == TokenKind::Name && is_op(peek(5), '=') && !is_op(peek(6), '=')) {
        const std::string cls = peek(2).text;
        const std::string trait = peek(4).text;
        i_ += 6;
        auto value = tuple_or_expr();
        if (!value) return;
        tree[cls][trait] = std::move(*value);
        return;
      }
    }
    unsupported(tok, describe(tok) +
                         " (only `c = get_config()` and `c.Class.trait = <literal>` "
                         "are read natively)");
  }

  // expr [, expr]* [,] -- a bare tuple as Python reads `x = 1, 2`.
  std::optional<Json> tuple_or_expr() {
    auto first = expr();
    if (!first) return {};
    if (!is_op(peek(), ',')) return first;
    Json arr = Json::array();
    arr.push_back(std::move(*first));
    while (is_op(peek(), ',')) {
      ++i_;
      if (at_statement_end()) break;
      auto v = expr();
      if (!v) return {};
      arr.push_back(std::move(*v));
    }
    return arr;
  }

  std::optional<Json> expr() {
    const Token& tok = peek();
    if (is_op(tok, '-') || is_op(tok, '+')) {
      const bool negative = is_op(tok, '-');
      ++i_;
      const Token& num = peek();
      if (num.kind != TokenKind::Number) {
        unsupported(num, "an expression beyond the literal subset");
        return {};
      }
      auto v = number_value(num.text);
      if (!v) {
        unsupported(num, "the number `" + num.text + "`");
        return {};
      }
      ++i_;
      if (!negative) return v;
      if (v->is_number_float()) return Json(-v->get<double>());
      return Json(-v->get<std::int64_t>());
    }
    return atom();
  }

  std::optional<Json> atom() {
    const Token& tok = peek();
    switch (tok.kind) {
      case TokenKind::String: {
        std::string s;
        const bool bytes = tok.bytes;
        while (peek().kind == TokenKind::String) {
          if (peek().bytes != bytes) {
            unsupported(peek(), "bytes and str literals concatenated");
            return {};
          }
          if (!peek().unsupported.empty()) {
            unsupported(peek(), peek().unsupported);
            return {};
          }
          s += peek().text;
          ++i_;
        }
        if (!bytes) return Json(std::move(s));
        if (find_invalid_utf8(s) == std::string::npos) return Json(std::move(s));
        return Json(bytes_repr(s));
      }
      case TokenKind::Number: {
        auto v = number_value(tok.text);
        if (!v) {
          unsupported(tok, "the number `" + tok.text + "`");
          return {};
        }
        ++i_;
        return v;
      }
      case TokenKind::Name:
        if (tok.text == "True" || tok.text == "False" || tok.text == "None") {
          ++i_;
          if (tok.text == "None") return Json(nullptr);
          return Json(tok.text == "True");
        }
        unsupported(tok, "the name `" + tok.text + "` (not a literal)");
        return {};
      case TokenKind::Op:
        if (is_op(tok, '[')) return sequence(']');
        if (is_op(tok, '(')) return parenthesised();
        if (is_op(tok, '{')) return dict();
        break;
      default:
        break;
    }
    unsupported(tok, describe(tok) + " where a literal was expected");
    return {};
  }

  // '[' items ']' or the rest of a tuple after '(' first ','.
  std::optional<Json> sequence(char close, Json arr = Json::array()) {
    ++i_;  // the opening bracket or the comma after the first tuple item
    while (true) {
      if (is_op(peek(), close)) {
        ++i_;
        return arr;
      }
      auto v = expr();
      if (!v) return {};
      arr.push_back(std::move(*v));
      if (is_op(peek(), ',')) {
        ++i_;
        continue;
      }
      if (is_op(peek(), close)) continue;
      unsupported(peek(), describe(peek()) + " inside a literal");
      return {};
    }
  }

  std::optional<Json> parenthesised() {
    ++i_;
    if (is_op(peek(), ')')) {
      ++i_;
      return Json::array();
    }
    auto first = expr();
    if (!first) return {};
    if (is_op(peek(), ')')) {
      ++i_;
      return first;
    }
    if (!is_op(peek(), ',')) {
      unsupported(peek(), describe(peek()) + " inside parentheses");
      return {};
    }
    Json arr = Json::array();
    arr.push_back(std::move(*first));
    // sequence() skips the comma as if it were the opening bracket.
    return sequence(')', std::move(arr));
  }

  std::optional<Json> dict() {
    ++i_;
    Json obj = Json::object();
    while (true) {
      if (is_op(peek(), '}')) {
        ++i_;
        return obj;
      }
      const Token& key_tok = peek();
      auto key = expr();
      if (!key) return {};
      if (!is_op(peek(), ':')) {
        unsupported(peek(), "a set or an expression (not a dict literal)");
        return {};
      }
      ++i_;
      auto value = expr();
      if (!value) return {};
      std::string key_text;
      if (key->is_string()) {
        key_text = key->get<std::string>();
      } else if (key->is_number_integer()) {
        key_text = std::to_string(key->get<std::int64_t>());  // what json.dumps does
      } else {
        unsupported(key_tok, "a dict key that is neither str nor int");
        return {};
      }
      obj[key_text] = std::move(*value);
      if (is_op(peek(), ',')) {
        ++i_;
        continue;
      }
      if (is_op(peek(), '}')) continue;
      unsupported(peek(), describe(peek()) + " inside a dict literal");
      return {};
    }
  }

  const std::vector<Token>& t_;
  std::size_t i_ = 0;
  std::optional<SourceProblem> problem_;
};

}  // namespace

LexResult tokenize(std::string_view source) { return Lexer(source).run(); }

NativeConfig parse_config_source(std::string_view source) {
  LexResult lexed = tokenize(source);
  if (lexed.problem) {
    NativeConfig out;
    out.problem = lexed.problem;
    return out;
  }
  return Parser(lexed.tokens).parse_file();
}

std::optional<Json> parse_literal_source(std::string_view source) {
  // Leading blanks would read as an indented block.
  while (!source.empty() && one_of(source.front(), " \t\f\r\n")) source.remove_prefix(1);
  if (source.empty()) return {};
  LexResult lexed = tokenize(source);
  if (lexed.problem) return {};
  return Parser(lexed.tokens).parse_whole_literal();
}

}  // namespace ipp::config::detail
