#include "ipp/config/config_file.hpp"

#include "ipp/config/error.hpp"
#include "ipp/config/py_literal.hpp"
#include "py_source.hpp"
#include "python_eval.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ipp::config {
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string() + ": cannot read: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError(file.string() + ": cannot read: " + std::strerror(errno));
  return ss.str();
}

bool is_section_key(const std::string& key) {
  // traitlets' _is_section_key: starts with an upper-case letter (or anything whose upper() is
  // itself, like a digit), and not private.
  return !key.empty() && key[0] != '_' &&
         std::toupper(static_cast<unsigned char>(key[0])) == static_cast<unsigned char>(key[0]);
}

void merge_section(ConfigTree& into, const ConfigTree& from) {
  for (const auto& [key, value] : from.items()) {
    if (value.is_object() && is_section_key(key) && into.contains(key) && into[key].is_object()) {
      merge_section(into[key], value);
    } else {
      into[key] = value;
    }
  }
}

// traitlets' Config.collisions: {"Class": {"trait": "<old> ignored, using <new>"}}.
ConfigTree collisions(const ConfigTree& earlier, const ConfigTree& later) {
  ConfigTree out = ConfigTree::object();
  for (const auto& [cls, mine] : earlier.items()) {
    if (!mine.is_object() || !later.contains(cls) || !later[cls].is_object()) continue;
    const ConfigTree& theirs = later[cls];
    for (const auto& [trait, value] : mine.items()) {
      if (theirs.contains(trait) && theirs[trait] != value) {
        // secrets (Session.key, the CurveZMQ secret keys) are named but never shown: this
        // text goes into a log line
        const bool secret = trait == "key" || trait == "curve_secretkey";
        out[cls][trait] =
            secret ? std::string("<hidden> ignored, using <hidden>")
                   : python_repr(value) + " ignored, using " + python_repr(theirs[trait]);
      }
    }
  }
  return out;
}

// Loads <dir>/<stem>.py then <dir>/<stem>.json, the json file winning, as traitlets does.
void load_pair(LoadedConfig& out, const fs::path& dir, const std::string& stem) {
  const fs::path py = dir / (stem + ".py");
  const fs::path js = dir / (stem + ".json");
  std::error_code ec;
  ConfigTree py_tree;
  bool have_py = false;
  if (fs::is_regular_file(py, ec)) {
    py_tree = load_python_config(py);
    merge(out, py_tree, py.string());
    out.files.push_back(py);
    have_py = true;
  }
  if (fs::is_regular_file(js, ec)) {
    ConfigTree js_tree = load_json_config(js);
    if (have_py) {
      const ConfigTree clash = collisions(py_tree, js_tree);
      if (!clash.empty()) {
        out.warnings.push_back("Collisions detected in " + py.string() + " and " + js.string() +
                               " config files. " + js.string() +
                               " has higher priority: " + clash.dump(2));
      }
    }
    merge(out, js_tree, js.string());
    out.files.push_back(js);
  }
}

}  // namespace

fs::path config_python() {
  if (const char* env = std::getenv("IPP_CONFIG_PYTHON")) return fs::path(env);
  return fs::path(IPP_PYTHON);
}

ConfigTree load_python_config(const fs::path& file) {
  return load_python_config(file, config_python());
}

ConfigTree load_python_config(const fs::path& file, const fs::path& python) {
  const std::string text = read_text(file);
  detail::NativeConfig native = detail::parse_config_source(text);
  if (!native.problem) return std::move(native.tree);

  const detail::SourceProblem& p = *native.problem;
  if (python.empty() || ::access(python.c_str(), X_OK) != 0) {
    const std::string interpreter = python.empty() ? std::string("Python") : python.string();
    if (p.syntax) {
      throw ConfigError(file.string() + ":" + std::to_string(p.line) +
                        ": invalid syntax: " + p.reason);
    }
    throw ConfigError(file.string() + ":" + std::to_string(p.line) + ": " + p.reason +
                      "; a file beyond the literal subset is evaluated with " + interpreter +
                      ", which is not available");
  }
  return detail::evaluate_with_python(python, file);
}

ConfigTree load_json_config(const fs::path& file) {
  const std::string text = read_text(file);
  ConfigTree tree;
  try {
    tree = ConfigTree::parse(text);
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
    throw ConfigError(file.string() + ": invalid JSON: " + e.what());
  }
  if (!tree.is_object()) {
    throw ConfigError(file.string() +
                      ": a JSON config file holds an object "
                      "{\"Class\": {\"trait\": value}}, not " +
                      std::string(tree.type_name()));
  }
  // traitlets' JSONFileConfigLoader: an optional "version": 1; any other version is an error.
  if (tree.contains("version")) {
    const ConfigTree version = tree["version"];
    tree.erase("version");
    if (!(version.is_number_integer() && version.get<std::int64_t>() == 1)) {
      throw ConfigError(file.string() +
                        ": Unknown version of JSON config file: " + python_str(version));
    }
  }
  return tree;
}

std::vector<fs::path> system_config_dirs() {
  // Python's SYSTEM_CONFIG_DIRS plus ENV_CONFIG_DIRS (<sys.prefix>/etc/ipython; Debian's
  // sys.prefix is /usr), lowest priority first.
  return {"/etc/ipython", "/usr/local/etc/ipython", "/usr/etc/ipython"};
}

LoadedConfig load_app_config(const fs::path& profile_dir, const std::string& app) {
  return load_app_config(profile_dir, app, {});
}

LoadedConfig load_app_config(const fs::path& profile_dir, const std::string& app,
                             const std::vector<fs::path>& extra_dirs) {
  std::string stem = app;
  for (auto& ch : stem) {
    if (ch == '-') ch = '_';  // ipcluster-engines -> ipcluster_engines_config
  }
  LoadedConfig out;
  std::vector<fs::path> dirs = extra_dirs;
  dirs.push_back(profile_dir);
  for (const auto& dir : dirs) {
    load_pair(out, dir, "ipython_config");
    if (stem != "ipython") load_pair(out, dir, stem + "_config");
  }
  fold_legacy(out);
  return out;
}

void merge(ConfigTree& into, const ConfigTree& from) {
  if (!into.is_object()) into = ConfigTree::object();
  if (!from.is_object()) return;
  for (const auto& [cls, section] : from.items()) {
    if (section.is_object() && into.contains(cls) && into[cls].is_object()) {
      merge_section(into[cls], section);
    } else {
      into[cls] = section;
    }
  }
}

void merge(LoadedConfig& into, const ConfigTree& from, const std::string& origin) {
  merge(into.tree, from);
  if (!from.is_object()) return;
  for (const auto& [cls, section] : from.items()) {
    if (!section.is_object()) continue;
    for (const auto& [trait, value] : section.items()) into.origins[cls + "." + trait] = origin;
  }
}

}  // namespace ipp::config
