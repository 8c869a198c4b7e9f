#include "ipp/config/profile_dir.hpp"

#include "ipp/config/error.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace ipp::config {
namespace fs = std::filesystem;

namespace {

constexpr fs::perms kPrivateDir = fs::perms::owner_all;  // 0700

// Our own words; IPython copies its README_STARTUP here, and only the file's presence matters.
constexpr const char* kStartupReadme =
    "This is the IPython startup directory of this profile.\n"
    "\n"
    ".py and .ipy files placed here are run, in lexicographical order of their names, before any\n"
    "exec_lines or exec_files configured for the profile. Prefix names with numbers to control\n"
    "the order, e.g. 00-first.py, 50-middle.py, 99-last.ipy.\n";

std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  throw ConfigError("cannot find the home directory: $HOME is not set");
}

// "~" and "~/x" as os.path.expanduser reads them (not ~user).
fs::path expand_user(const std::string& path) {
  if (path == "~") return home_dir();
  if (path.rfind("~/", 0) == 0) return fs::path(home_dir()) / path.substr(2);
  return path;
}

// os.path.normpath: lexical, without a trailing separator.
fs::path normalise(const fs::path& p) {
  fs::path n = p.lexically_normal();
  std::string s = n.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s.empty() ? fs::path(".") : fs::path(s);
}

bool writable_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && ::access(p.c_str(), W_OK) == 0;
}

// IPython's ProfileDir._mkdir: create if missing; when a mode is asked for, force it with chmod
// even on an existing directory (IPython re-checks this on every start).
void make_dir(const fs::path& p, const fs::perms* mode) {
  std::error_code ec;
  if (!fs::is_directory(p, ec)) {
    if (!fs::create_directories(p, ec) && !fs::is_directory(p)) {
      throw ConfigError("cannot create directory '" + p.string() + "': " + ec.message());
    }
  }
  if (mode) {
    const fs::perms now = fs::status(p, ec).permissions();
    if (!ec && (now & fs::perms::mask) != *mode) {
      fs::permissions(p, *mode, fs::perm_options::replace, ec);
      if (ec) {
        spdlog::warn("Could not set permissions on {}", p.string());
      } else {
        spdlog::warn("{} had mode {:04o}; set to {:04o}", p.string(),
                     static_cast<unsigned>(now & fs::perms::mask), static_cast<unsigned>(*mode));
      }
    }
  }
}

std::string with_id(const std::string& cluster_id) {
  return cluster_id.empty() ? std::string() : "-" + cluster_id;
}

}  // namespace

fs::path locate_ipython_dir(const std::string& override_dir) {
  std::string chosen = override_dir;
  if (chosen.empty()) {
    if (const char* env = std::getenv("IPYTHONDIR"); env && *env) {
      chosen = env;
    } else if (const char* old = std::getenv("IPYTHON_DIR"); old && *old) {
      spdlog::warn(
          "The environment variable IPYTHON_DIR is deprecated since IPython 3.0. "
          "Please use IPYTHONDIR instead.");
      chosen = old;
    }
  }
  fs::path dir;
  if (!chosen.empty()) {
    dir = normalise(expand_user(chosen));
  } else {
    dir = fs::path(home_dir()) / ".ipython";
    // IPython's legacy rule on Linux: an existing, writable $XDG_CONFIG_HOME/ipython is used
    // when ~/.ipython does not exist.
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const fs::path xdg_dir =
        (xdg && *xdg) ? fs::path(xdg) / "ipython" : fs::path(home_dir()) / ".config" / "ipython";
    std::error_code ec;
    if (!fs::exists(dir, ec) && writable_dir(xdg_dir) && !fs::is_symlink(xdg_dir, ec))
      dir = xdg_dir;
    dir = normalise(dir);
  }
  std::error_code ec;
  if (fs::exists(dir, ec) && !writable_dir(dir)) {
    // IPython falls back to a temporary directory rather than failing.
    std::string tmpl = (fs::temp_directory_path() / "ipython-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw ConfigError("IPython dir '" + dir.string() +
                        "' is not writable and no temporary "
                        "directory could be made: " +
                        std::strerror(errno));
    }
    spdlog::warn("IPython dir '{}' is not a writable location, using a temp directory.",
                 dir.string());
    return tmpl;
  }
  make_dir(dir, nullptr);
  return dir;
}

ProfileDir ProfileDir::resolve(const ProfileOptions& options, bool create) {
  ProfileDir out;
  out.name_ = options.profile.empty() ? "default" : options.profile;
  std::string location = options.profile_dir;
  if (location.empty()) {
    // ipyparallel 8+ launchers pass the profile this way; --profile-dir still wins.
    if (const char* env = std::getenv("IPP_PROFILE_DIR"); env && *env) location = env;
  }
  std::error_code ec;
  if (!location.empty()) {
    const fs::path p = expand_user(location);
    if (!fs::is_directory(p, ec)) {
      if (!create) throw ConfigError("Profile directory '" + location + "' not found.");
      make_dir(p, nullptr);
    }
    out.location_ = normalise(fs::absolute(p));
    const std::string base = out.location_.filename().string();
    if (base.rfind("profile_", 0) == 0) out.name_ = base.substr(8);
  } else {
    const fs::path ipython_dir = locate_ipython_dir(options.ipython_dir);
    const fs::path p = ipython_dir / ("profile_" + out.name_);
    // The default profile is always created, whatever the app's auto_create says.
    if (!fs::is_directory(p, ec)) {
      if (!create && out.name_ != "default") {
        throw ConfigError("Profile '" + out.name_ + "' not found.");
      }
      make_dir(p, nullptr);
    }
    out.location_ = normalise(fs::absolute(p));
  }
  out.ensure_layout();
  return out;
}

void ProfileDir::ensure_layout() const {
  make_dir(location_, nullptr);
  make_dir(security(), &kPrivateDir);
  make_dir(log(), nullptr);
  make_dir(pid(), &kPrivateDir);
  make_dir(startup(), nullptr);
  const fs::path readme = startup() / "README";
  std::error_code ec;
  if (!fs::exists(readme, ec)) {
    std::ofstream out(readme);
    out << kStartupReadme;  // best effort, as in IPython: a missing README harms nothing
  }
}

fs::path ProfileDir::client_file(const std::string& cluster_id) const {
  return security() / ("ipcontroller" + with_id(cluster_id) + "-client.json");
}

fs::path ProfileDir::engine_file(const std::string& cluster_id) const {
  return security() / ("ipcontroller" + with_id(cluster_id) + "-engine.json");
}

fs::path ProfileDir::curve_key_file(const std::string& cluster_id) const {
  return security() / ("ipcontroller" + with_id(cluster_id) + "-curve.json");
}

fs::path ProfileDir::cluster_file(const std::string& cluster_id) const {
  return security() / ("cluster-" + cluster_id + ".json");
}

fs::path ProfileDir::engine_state_file(const std::string& cluster_id) const {
  return log() / ("engines" + cluster_id + ".json");
}

fs::path ProfileDir::task_clients_file(const std::string& cluster_id) const {
  return log() / ("task-clients" + cluster_id + ".json");
}

}  // namespace ipp::config
