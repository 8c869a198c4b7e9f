#pragma once
// ipyparallel's wrapped-exception content (error.wrap_exception), used in every error reply:
//   {"status": "error", "ename", "evalue", "traceback": [lines], "engine_info": {}}
#include <ipp/wire/message.hpp>

#include <string>
#include <string_view>

namespace ipp::wire {

// Python's repr() of a str: the quote choice and escapes Python makes, so `evalue` of a KeyError
// reads exactly as Python's str(KeyError(text)).
std::string python_repr(std::string_view text);

// Wrapped exception content. `where` names the component in the one-frame traceback.
Json wrap_exception(std::string_view ename, std::string_view evalue,
                    std::string_view where = "ipcontroller");

// str(KeyError(text)) is repr(text); IndexError and others print the text as is.
inline Json wrap_key_error(std::string_view text, std::string_view where = "ipcontroller") {
  return wrap_exception("KeyError", python_repr(text), where);
}

}  // namespace ipp::wire
