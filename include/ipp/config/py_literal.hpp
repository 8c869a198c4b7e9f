#pragma once
// Python literals as JSON, both ways: parsing the values config files and `--Class.trait=value`
// options carry, and printing values back the way Python does in warnings and errors.
//
// The mapping is the one `json.dumps` applies to what `ast.literal_eval` returns: str -> string,
// int -> integer, float -> number, True/False -> bool, None -> null, list and tuple -> array,
// dict -> object (int keys become their decimal text, as json.dumps does). bytes become a string
// holding their UTF-8 text, or their repr (b'...') when they are not valid UTF-8. Sets, complex
// numbers, \N{...} escapes and ints beyond 64 bits are not part of the subset.
#include "ipp/config/tree.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ipp::config {

// The value of `text` when it is exactly one Python literal (surrounding blanks allowed),
// otherwise nullopt. "1, 2" is a tuple, as in Python.
std::optional<ConfigTree> parse_python_literal(std::string_view text);

// repr(): 'ssh', True, None, 3, 1.5, ['a', 'b'], {'host1': 3}.
std::string python_repr(const ConfigTree& value);
// str(): like repr() except that a top-level string is printed bare (ssh, not 'ssh'), which is
// how ipyparallel's f-string warnings print config values.
std::string python_str(const ConfigTree& value);

}  // namespace ipp::config
