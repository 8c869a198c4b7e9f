#pragma once
// Traitlets-style configuration: a tree {"Class": {"trait": value}} loaded from a profile's
// <app>_config.py and <app>_config.json (and ipython_config.*), merged in traitlets' order.
//
// Python config files: the literal subset that real profiles use is read natively
// (`c = get_config()`, `c.Class.trait = <str|int|float|bool|None|list|tuple|dict>`, comments,
// blank lines, u''/b''/r'' strings, implicit string concatenation, line continuations). A file
// beyond that subset is evaluated by /usr/bin/python3 when present; otherwise it is a ConfigError
// naming the file and line.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace ipp::config {

using ConfigTree = nlohmann::json;

struct LoadedConfig {
  ConfigTree tree = ConfigTree::object();
  std::vector<std::string> warnings;  // deprecations, collisions, unrecognised names
  std::vector<std::filesystem::path> files;  // files read, lowest priority first
};

ConfigTree load_python_config(const std::filesystem::path& file);
ConfigTree load_json_config(const std::filesystem::path& file);

// Loads ipython_config.{py,json} then <app>_config.{py,json} from `profile_dir` (json beats py),
// then folds legacy names (fold_legacy).
LoadedConfig load_app_config(const std::filesystem::path& profile_dir, const std::string& app);

// Deep-merges `from` into `into` (dicts merge per key, everything else replaces).
void merge(ConfigTree& into, const ConfigTree& from);

// Maps 6.x-era names onto what they mean, which Python ipyparallel 7+ rejects or ignores:
//   IPControllerApp.X, HubFactory.X          -> IPController.X
//   RegistrationFactory.ip/.transport/.regport -> IPController.ip/.transport/.ports
//   IPEngineApp.X, EngineFactory.X            -> IPEngine.X
//   IPClusterEngines/IPClusterStart.{engine_launcher_class, controller_launcher_class, n, delay,
//     controller_ip, controller_location}      -> Cluster.X
//   launcher class names such as 'SSHEngineSetLauncher' or dotted paths -> short names ('ssh')
// Each fold adds a warning line.
void fold_legacy(ConfigTree& tree, std::vector<std::string>& warnings);

// The short launcher name ("local", "ssh", "mpi", "sshproxy", "slurm", ...) for any accepted
// spelling, or "" when unknown.
std::string launcher_short_name(const std::string& value);

}  // namespace ipp::config
