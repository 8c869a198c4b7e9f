#pragma once
// Private to src/config: runs eval_config.py under an interpreter for config files beyond the
// literal subset.
#include "ipp/config/tree.hpp"

#include <filesystem>

namespace ipp::config::detail {

// Evaluates `file` with `python` (e.g. /usr/bin/python3 -c <eval_config.py> <file>) and returns
// its settings. Throws ConfigError naming the file and line when the file raises, and naming the
// file when the interpreter cannot be run or misbehaves.
ConfigTree evaluate_with_python(const std::filesystem::path& python,
                                const std::filesystem::path& file);

}  // namespace ipp::config::detail
