#pragma once
// Traitlets command-line compatibility: `--Class.trait=value` and `--Class.trait value`, as all
// three Python apps accept them for any configurable (cluster-tooling.md §2.5).
//
// Values are read as Python literals when they parse as one (500 -> int, True -> bool,
// "'x'" -> x, [1, 2] -> list) and as plain strings otherwise (* -> "*", --foo -> "--foo"); a
// leading ~/ is expanded as traitlets does for strings. Repeating an option builds a list
// (--EngineLauncher.engine_args=--foo --EngineLauncher.engine_args=--bar -> ["--foo", "--bar"]),
// as traitlets appends for list traits; a single occurrence stays a scalar, which get<vector>
// reads as a one-item list. Aliases and flags (--ip, --debug, -n 3) are the app's business and
// pass through untouched, in order, as does everything from a bare "--" on.
#include "ipp/config/lookup.hpp"
#include "ipp/config/tree.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ipp::config {

struct CliConfig {
  ConfigTree tree = ConfigTree::object();
  std::vector<std::string> rest;  // every argument that is not a --Class.trait option
};

// Throws ConfigError when `--Class.trait` is last or followed by another option (traitlets:
// "expected one argument").
CliConfig extract_cli_config(const std::vector<std::string>& args);
// argv[0] (the program) is skipped.
CliConfig extract_cli_config(int argc, const char* const* argv);

// How one option value is read (see above).
ConfigTree parse_cli_value(std::string_view text);

// Merges command-line config over file config (the command line wins, as in traitlets),
// recording "command line" as the origin of each setting.
void apply_cli_config(LoadedConfig& config, const CliConfig& cli);

}  // namespace ipp::config
