// Folding of ipyparallel 6.x configuration names into what they mean today.
//
// Python ipyparallel 7+ folds some of these itself (BaseParallelApplication.init_deprecated_config
// and IPClusterEngines.init_deprecated_config), with the warnings reproduced here word for word;
// others it ignores silently (RegistrationFactory.*) or rejects (a bare launcher class name such
// as 'SSHEngineSetLauncher'). We honour those too, so that 6.x-era profiles keep working, and say
// so in a warning.
#include "ipp/config/config_file.hpp"
#include "ipp/config/py_literal.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <string_view>

namespace ipp::config {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == lower(suffix);
}

// How a fold words its warnings.
enum class Wording {
  AppClass,      // Python's init_deprecated_config text
  Cluster,       // Python's IPClusterEngines.init_deprecated_config text
  Registration,  // 6.x RegistrationFactory, which Python ignores
  Renamed,       // MPIExec* -> MPI*
};

// Applies folds to one tree. Role: a short-lived helper of fold_legacy on the calling thread.
class Folder {
 public:
  Folder(ConfigTree& tree, std::vector<std::string>& warnings, ConfigOrigins* origins)
      : tree_(tree), warnings_(warnings), origins_(origins) {}

  // Every trait of section `legacy` moves to `current`.
  void fold_class(const std::string& legacy, const std::string& current, Wording wording) {
    if (!has_section(legacy)) return;
    std::vector<std::string> keys;
    for (const auto& [key, value] : tree_[legacy].items()) keys.push_back(key);
    for (const auto& key : keys) fold_trait(legacy, key, current, key, wording);
    drop_if_empty(legacy);
  }

  // One trait `legacy.legacy_trait` moves to `current.current_trait`, unless that is set.
  void fold_trait(const std::string& legacy, const std::string& legacy_trait,
                  const std::string& current, const std::string& current_trait, Wording wording) {
    if (!has_section(legacy) || !tree_[legacy].contains(legacy_trait)) return;
    ConfigTree value = tree_[legacy][legacy_trait];
    tree_[legacy].erase(legacy_trait);
    set_or_ignore(legacy, legacy_trait, current, current_trait, std::move(value), wording);
    move_origin(legacy + "." + legacy_trait, current + "." + current_trait);
  }

  // RegistrationFactory.url 'tcp://10.0.0.1:10101' carried transport, ip and port at once.
  void fold_registration_url() {
    const std::string legacy = "RegistrationFactory";
    if (!has_section(legacy) || !tree_[legacy].contains("url")) return;
    const ConfigTree url = tree_[legacy]["url"];
    tree_[legacy].erase("url");
    const std::string origin_key = legacy + ".url";
    const std::string text = url.is_string() ? url.get<std::string>() : std::string();
    const auto scheme = text.find("://");
    const auto colon = text.rfind(':');
    int port = 0;
    const bool port_ok =
        colon != std::string::npos && colon > scheme + 2 &&
        std::from_chars(text.data() + colon + 1, text.data() + text.size(), port).ec == std::errc();
    if (scheme == std::string::npos || !port_ok) {
      warnings_.push_back("Ignoring c.RegistrationFactory.url = " + python_str(url) +
                          ": not a transport://ip:port URL");
      drop_origin(origin_key);
      return;
    }
    const std::pair<std::string, ConfigTree> parts[] = {
        {"transport", text.substr(0, scheme)},
        {"ip", text.substr(scheme + 3, colon - scheme - 3)},
        {"regport", port}};
    for (const auto& [trait, value] : parts) {
      set_or_ignore(legacy, "url", "IPController", trait, value, Wording::Registration);
      copy_origin(origin_key, "IPController." + trait);
    }
    drop_origin(origin_key);
  }

  // 6.x launcher class names in Cluster.*_launcher_class become entry-point names.
  void normalise_launcher(const std::string& trait) {
    if (!has_section("Cluster") || !tree_["Cluster"].contains(trait)) return;
    ConfigTree& value = tree_["Cluster"][trait];
    if (!value.is_string()) return;
    const std::string text = value.get<std::string>();
    const std::string short_name = launcher_short_name(text);
    if (short_name.empty() || short_name == text) return;
    // 'SSH' and 'ipyparallel.cluster.launcher.SSHEngineSetLauncher' are valid in Python 7+ too;
    // only a bare class name is a 6.x spelling worth a warning.
    const bool bare_class = text.find('.') == std::string::npos && lower(text) != short_name;
    if (bare_class) {
      warnings_.push_back("c.Cluster." + trait + " = " + python_repr(value) +
                          " is a 6.x launcher class name, which ipyparallel 7 cannot import; "
                          "using c.Cluster." +
                          trait + " = " + python_repr(short_name));
    }
    value = short_name;
  }

  void drop_if_empty(const std::string& section) {
    if (has_section(section) && tree_[section].empty()) tree_.erase(section);
  }

 private:
  bool has_section(const std::string& name) const {
    return tree_.contains(name) && tree_[name].is_object();
  }

  void set_or_ignore(const std::string& legacy, const std::string& legacy_trait,
                     const std::string& current, const std::string& current_trait, ConfigTree value,
                     Wording wording) {
    if (!tree_.contains(current) || !tree_[current].is_object())
      tree_[current] = ConfigTree::object();
    ConfigTree& target = tree_[current];
    const std::string old_name = "c." + legacy + "." + legacy_trait;
    const std::string new_name = "c." + current + "." + current_trait;
    if (target.contains(current_trait)) {
      if (target[current_trait] != value) {
        warnings_.push_back("Ignoring " + old_name + " = " + python_str(value) +
                            ", overridden by " + new_name + " = " +
                            python_str(target[current_trait]));
      }
      return;
    }
    switch (wording) {
      case Wording::AppClass:
        warnings_.push_back(old_name + " is deprecated in ipyparallel 7, use " + new_name + " = " +
                            python_str(value));
        break;
      case Wording::Cluster:
        warnings_.push_back(legacy + "." + legacy_trait + " = " + python_str(value) +
                            " configuration is deprecated in ipyparallel 7. Use " + current + "." +
                            current_trait + " = " + python_str(value));
        break;
      case Wording::Registration:
        warnings_.push_back(old_name +
                            " is a 6.x setting that ipyparallel 7 ignores; honouring it as " +
                            new_name + " = " + python_str(value));
        break;
      case Wording::Renamed:
        warnings_.push_back(legacy + " name has been deprecated, use " + current + " (" + new_name +
                            " = " + python_str(value) + ")");
        break;
    }
    target[current_trait] = std::move(value);
  }

  void move_origin(const std::string& from, const std::string& to) {
    copy_origin(from, to);
    drop_origin(from);
  }
  void copy_origin(const std::string& from, const std::string& to) {
    if (!origins_) return;
    const auto it = origins_->find(from);
    // An explicit current setting keeps its own origin.
    if (it != origins_->end() && !origins_->contains(to)) (*origins_)[to] = it->second;
  }
  void drop_origin(const std::string& key) {
    if (origins_) origins_->erase(key);
  }

  ConfigTree& tree_;
  std::vector<std::string>& warnings_;
  ConfigOrigins* origins_;
};

void fold(ConfigTree& tree, std::vector<std::string>& warnings, ConfigOrigins* origins) {
  if (!tree.is_object()) return;
  Folder f(tree, warnings, origins);
  // Controller: HubFactory before IPControllerApp, so HubFactory wins a tie (as in Python), and
  // both before their 6.x base class RegistrationFactory.
  f.fold_class("HubFactory", "IPController", Wording::AppClass);
  f.fold_class("IPControllerApp", "IPController", Wording::AppClass);
  for (const char* trait : {"ip", "transport"}) {
    f.fold_trait("RegistrationFactory", trait, "IPController", trait, Wording::Registration);
  }
  f.fold_trait("RegistrationFactory", "regport", "IPController", "regport", Wording::Registration);
  f.fold_registration_url();
  f.drop_if_empty("RegistrationFactory");

  f.fold_class("EngineFactory", "IPEngine", Wording::AppClass);
  f.fold_class("IPEngineApp", "IPEngine", Wording::AppClass);

  for (const char* cls : {"IPClusterStart", "IPClusterEngines"}) {
    for (const char* trait : {"delay", "engine_launcher_class", "controller_launcher_class",
                              "controller_ip", "controller_location", "n"}) {
      f.fold_trait(cls, trait, "Cluster", trait, Wording::Cluster);
    }
    // The 6.x spellings that predate *_class.
    f.fold_trait(cls, "engine_launcher", "Cluster", "engine_launcher_class", Wording::Cluster);
    f.fold_trait(cls, "controller_launcher", "Cluster", "controller_launcher_class",
                 Wording::Cluster);
    f.drop_if_empty(cls);
  }
  for (const char* legacy :
       {"MPIExecLauncher", "MPIExecControllerLauncher", "MPIExecEngineSetLauncher"}) {
    std::string current = legacy;
    current.replace(0, 7, "MPI");
    f.fold_class(legacy, current, Wording::Renamed);
  }
  f.normalise_launcher("engine_launcher_class");
  f.normalise_launcher("controller_launcher_class");
}

}  // namespace

void fold_legacy(ConfigTree& tree, std::vector<std::string>& warnings) {
  fold(tree, warnings, nullptr);
}

void fold_legacy(LoadedConfig& config) { fold(config.tree, config.warnings, &config.origins); }

std::string launcher_short_name(const std::string& value) {
  static constexpr std::array<std::string_view, 11> kShort = {
      "local", "mpi", "ssh",      "sshproxy", "pbs",  "sge",
      "slurm", "lsf", "htcondor", "winhpc",   "batch"};
  std::string text = value;
  const auto not_space = [](unsigned char c) { return std::isspace(c) == 0; };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  if (text.empty()) return "";
  std::string low = lower(text);
  // Entry-point names are matched case-insensitively, as ipyparallel.traitlets.Launcher does.
  if (std::find(kShort.begin(), kShort.end(), low) != kShort.end()) return low;

  // "ipyparallel.cluster.launcher.SSHEngineSetLauncher", "...launcher:SSHEngineSetLauncher", the
  // 7.x shim "ipyparallel.apps.launcher.X" and the 0.x "IPython.parallel.apps.launcher.X" name
  // our launchers; any other module path is somebody else's class.
  std::string cls = text;
  const auto sep = text.find_last_of(".:");
  if (sep != std::string::npos) {
    const std::string module = text.substr(0, sep);
    if (module.rfind("ipyparallel.", 0) != 0 && module.rfind("IPython.parallel.", 0) != 0)
      return "";
    cls = text.substr(sep + 1);
  }
  std::string stem;
  for (const std::string_view suffix :
       {"EngineSetLauncher", "ControllerLauncher", "EngineLauncher", "Launcher"}) {
    if (ends_with_ci(cls, suffix)) {
      stem = lower(std::string_view(cls).substr(0, cls.size() - suffix.size()));
      break;
    }
  }
  if (stem.empty()) return "";
  static constexpr std::pair<std::string_view, std::string_view> kStems[] = {
      {"local", "local"},       {"mpi", "mpi"},           {"mpiexec", "mpi"},
      {"ssh", "ssh"},           {"sshproxy", "sshproxy"}, {"pbs", "pbs"},
      {"sge", "sge"},           {"slurm", "slurm"},       {"lsf", "lsf"},
      {"htcondor", "htcondor"}, {"condor", "htcondor"},   {"windowshpc", "winhpc"},
      {"winhpc", "winhpc"},     {"batch", "batch"}};
  for (const auto& [from, to] : kStems) {
    if (stem == from) return std::string(to);
  }
  return "";
}

}  // namespace ipp::config
