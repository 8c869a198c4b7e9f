#pragma once
// Traitlets-style configuration: a tree {"Class": {"trait": value}} loaded from a profile's
// <app>_config.py and <app>_config.json (and ipython_config.*), merged in traitlets' order.
//
// Python config files: the literal subset that real profiles use is read natively
// (`c = get_config()`, `c.Class.trait = <str|int|float|bool|None|list|tuple|dict>`, comments,
// blank lines, u''/b''/r'' strings, implicit string concatenation, line continuations). A file
// beyond that subset is evaluated by /usr/bin/python3 when present; otherwise it is a ConfigError
// naming the file and line.
#include "ipp/config/tree.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ipp::config {

// Where each setting came from, for error messages: "Class.trait" -> a file path or
// "command line".
using ConfigOrigins = std::map<std::string, std::string>;

struct LoadedConfig {
  ConfigTree tree = ConfigTree::object();
  std::vector<std::string> warnings;         // deprecations, collisions, unrecognised names
  std::vector<std::filesystem::path> files;  // files read, lowest priority first
  ConfigOrigins origins;
};

// The interpreter that evaluates config files beyond the literal subset: $IPP_CONFIG_PYTHON
// when set (empty disables the fallback), else IPP_PYTHON (/usr/bin/python3).
std::filesystem::path config_python();

ConfigTree load_python_config(const std::filesystem::path& file);
// As above with an explicit interpreter; an empty path means "no Python available".
ConfigTree load_python_config(const std::filesystem::path& file,
                              const std::filesystem::path& python);
ConfigTree load_json_config(const std::filesystem::path& file);

// Loads ipython_config.{py,json} then <app>_config.{py,json} from `profile_dir` (json beats py),
// then folds legacy names (fold_legacy).
LoadedConfig load_app_config(const std::filesystem::path& profile_dir, const std::string& app);
// As above, first reading the same files from `extra_dirs` (lowest priority first), as traitlets
// reads /etc/ipython and friends before the profile.
LoadedConfig load_app_config(const std::filesystem::path& profile_dir, const std::string& app,
                             const std::vector<std::filesystem::path>& extra_dirs);

// The system directories IPython searches before the profile, lowest priority first:
// /etc/ipython, /usr/local/etc/ipython, <prefix>/etc/ipython.
std::vector<std::filesystem::path> system_config_dirs();

// Deep-merges `from` into `into` the way traitlets' Config.merge does: config sections (keys
// starting with an upper-case letter whose values are dicts) merge key by key; trait values,
// dict-valued traits included, replace.
void merge(ConfigTree& into, const ConfigTree& from);
// Merges and records `origin` (a file path, "command line", ...) for every Class.trait in `from`.
void merge(LoadedConfig& into, const ConfigTree& from, const std::string& origin);

// Maps 6.x-era names onto what they mean, which Python ipyparallel 7+ rejects or ignores:
//   IPControllerApp.X, HubFactory.X          -> IPController.X   (HubFactory first, as in Python)
//   RegistrationFactory.ip/.transport/.regport -> IPController.ip/.transport/.regport, and
//     RegistrationFactory.url 'tcp://ip:port' -> the same three
//   IPEngineApp.X, EngineFactory.X            -> IPEngine.X       (EngineFactory first)
//   IPClusterEngines/IPClusterStart.{engine_launcher_class, controller_launcher_class, n, delay,
//     controller_ip, controller_location}      -> Cluster.X (also the 6.x engine_launcher /
//     controller_launcher)
//   MPIExecLauncher, MPIExecControllerLauncher, MPIExecEngineSetLauncher -> MPI* sections
//   launcher class names such as 'SSHEngineSetLauncher' or dotted paths in
//     Cluster.{engine,controller}_launcher_class -> short names ('ssh')
// An explicit current name wins over a legacy one. Each fold adds a warning line.
void fold_legacy(ConfigTree& tree, std::vector<std::string>& warnings);
// As above, moving the recorded origins along with the settings.
void fold_legacy(LoadedConfig& config);

// The short launcher name ("local", "ssh", "mpi", "sshproxy", "slurm", ...) for any accepted
// spelling, or "" when unknown.
std::string launcher_short_name(const std::string& value);

}  // namespace ipp::config
