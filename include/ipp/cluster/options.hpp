#pragma once
// The ipcluster command line, parsed the way traitlets parses Python's (cluster-tooling.md §2.5,
// §2.6): `--name=value`, `--name value`, `-n 3`, `-n=3`; flags that are also aliases
// (`--daemonize`, `--daemonize=False`); `--Class.trait=value` for any configurable; positional
// arguments and everything after `--` as extra arguments (controller args for `start`, cluster
// ids for `stop`).
#include <ipp/config/cli_compat.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

// Exit codes of Python's ipcluster (cluster-tooling.md §3.1).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int error = 1;          // bad config, profile not found, start failed
inline constexpr int usage = 2;          // command-line syntax error
inline constexpr int already_started = 10;
inline constexpr int already_stopped = 11;
}  // namespace exit_code

struct ClusterOptions {
  std::string subcommand;  // start stop engines list status clean profile nbextension
  std::string profile_action;  // `profile create`: "create"
  std::string profile_name;    // `profile create NAME`

  std::optional<std::string> profile;
  std::optional<std::string> profile_dir;
  std::optional<std::string> ipython_dir;
  std::optional<std::string> cluster_id;
  std::optional<std::string> log_level;
  std::optional<std::string> config_file;
  std::optional<std::string> work_dir;
  std::optional<int> n;
  std::optional<std::string> engines;     // engine launcher class
  std::optional<std::string> controller;  // controller launcher class
  std::optional<std::string> ip;
  std::optional<std::string> location;
  std::optional<double> delay;
  std::optional<int> status_port;  // start: passed on to the controller as --status-port
  bool adapt = false;              // start --adapt
  std::optional<int> adapt_min;    // --min
  std::optional<int> adapt_max;    // --max
  std::optional<double> idle_timeout;  // --idle-timeout
  std::optional<bool> daemonize;
  std::optional<bool> log_to_file;
  bool debug = false;
  bool quiet = false;
  bool all = false;        // stop --all, clean --all
  bool force = false;      // clean --force
  bool overwrite = false;  // profile create --overwrite
  bool help = false;
  std::string output_format = "text";  // list -o, status --json
  std::vector<std::string> extra_args;
  std::vector<std::string> warnings;  // "Unrecognized alias: 'x', it will have no effect."
  ipp::config::CliConfig cli;         // the --Class.trait=value part
};

struct ParseOutcome {
  std::optional<ClusterOptions> options;
  int exit_code = 0;      // when !options
  std::string message;    // printed to stderr when !options
};

// argv[0] is the program name.
ParseOutcome parse_command_line(const std::vector<std::string>& argv);

std::string usage_text();

}  // namespace ipp::cluster
