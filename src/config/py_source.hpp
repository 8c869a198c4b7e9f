#pragma once
// Private to src/config: the native reader for the literal subset of Python config files.
//
// The lexer follows Python's tokenizer closely enough to split any Python file into tokens (so a
// file beyond the subset is recognised as such instead of misread); the parser then accepts only
// `c = get_config()`, `c.Class.trait = <literal>`, docstrings and `pass`. Anything else yields an
// Unsupported result with the line, and the caller hands the file to /usr/bin/python3.
#include "ipp/config/tree.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::config::detail {

enum class TokenKind { Name, Number, String, Op, Newline, Indent, End };

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;  // Name, Op and Number: the source text; String: the decoded value
  int line = 0;
  bool bytes = false;       // b'...' literal (text holds raw bytes)
  std::string unsupported;  // non-empty: a valid token the native reader cannot represent
};

// Where and why the native reader gave up. `syntax` tells a Python syntax error from a
// construct that is valid Python but beyond the subset.
struct SourceProblem {
  int line = 0;
  std::string reason;
  bool syntax = false;
};

struct LexResult {
  std::vector<Token> tokens;
  std::optional<SourceProblem> problem;
};

LexResult tokenize(std::string_view source);

struct NativeConfig {
  ConfigTree tree = ConfigTree::object();
  std::optional<SourceProblem> problem;  // set: the file needs Python
};

// Reads a whole config file written in the literal subset.
NativeConfig parse_config_source(std::string_view source);

// One literal expression (or a bare tuple "1, 2") filling all of `source`; nullopt otherwise.
std::optional<ConfigTree> parse_literal_source(std::string_view source);

// Appends `cp` to `out` as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp);
// Offset of the first byte that is not part of valid UTF-8, or npos.
std::size_t find_invalid_utf8(std::string_view text);

}  // namespace ipp::config::detail
