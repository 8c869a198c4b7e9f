#pragma once
// SSHEngineSetLauncher.engines: which hosts get how many engines, in the order written.
//
// Accepted forms (cluster-tooling.md §5.4, §2.3), keys "host", "user@host", "host:port",
// "user@host:port":
//   {'host': 3}                                   count
//   {'host': (3, ['--arg'])}                      the 6.x tuple form (a list after JSON), which
//                                                 Python 7+ breaks on; the args replace engine_args
//   {'host': {'n': 3, 'engine_args': [...], ...}} per-host trait overrides
// Unlike Python 7+, the total is not capped by Cluster.n: the dict says how many engines run
// where, as it did in 6.x and in the seed walkthrough.
#include <ipp/config/tree.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

struct HostSpec {
  std::string key;  // as written in the config; engine identifiers are "<key>/<i>"
  std::string user;  // empty: the ssh config / login user
  std::string host;
  int port = 0;  // 0: the ssh config / 22
  int n = 1;
  std::optional<std::vector<std::string>> engine_args;  // replaces the set's engine_args
  std::optional<std::vector<std::string>> engine_cmd;   // replaces the set's remote command
  std::optional<std::string> remote_profile_dir;
  std::optional<std::string> remote_python;
};

// Throws ConfigError ("c.SSHEngineSetLauncher.engines['h']: ...") for a value of another shape.
std::vector<HostSpec> parse_engines_spec(const ipp::config::ConfigTree& engines);

// "user@host:port" -> parts (user and port optional).
void split_host_key(const std::string& key, std::string& user, std::string& host, int& port);

}  // namespace ipp::cluster
