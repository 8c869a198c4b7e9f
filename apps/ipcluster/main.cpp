// ipcluster: parses the command line and runs the subcommand (start, stop, engines, list, clean,
// profile create). Options, config keys, files and exit codes are Python ipyparallel's
// (cluster-tooling.md §2, §3); see docs/ipcluster.md.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/options.hpp>

#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  auto parsed = ipp::cluster::parse_command_line(args);
  if (!parsed.options) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  return ipp::cluster::run(std::move(*parsed.options));
}
