#pragma once
// Profile directories, located and laid out as IPython's ProfileDir does it:
//   <ipython_dir>/profile_<name>/{security (0700), pid (0700), log, startup}
// <ipython_dir> is --ipython-dir, else $IPYTHONDIR, else ~/.ipython.
#include <filesystem>
#include <string>

namespace ipp::config {

struct ProfileOptions {
  std::string ipython_dir;  // --ipython-dir (empty: environment, then ~/.ipython)
  std::string profile = "default";
  std::string profile_dir;  // --profile-dir, or $IPP_PROFILE_DIR; wins over `profile`
};

std::filesystem::path locate_ipython_dir(const std::string& override_dir = "");

class ProfileDir {
 public:
  // Finds the profile directory. With `create`, makes it and its subdirectories (modes above);
  // without, a missing profile other than "default" is a ConfigError
  // ("Profile 'NAME' not found." / "Profile directory '<path>' not found.").
  static ProfileDir resolve(const ProfileOptions& options, bool create);
  // Creates the subdirectories and forces the 0700 modes (as IPython re-checks on every start).
  void ensure_layout() const;

  const std::filesystem::path& location() const { return location_; }
  const std::string& name() const { return name_; }
  std::filesystem::path security() const { return location_ / "security"; }
  std::filesystem::path log() const { return location_ / "log"; }
  std::filesystem::path pid() const { return location_ / "pid"; }
  std::filesystem::path startup() const { return location_ / "startup"; }

  // security/ipcontroller[-<cluster_id>]-{client,engine}.json
  std::filesystem::path client_file(const std::string& cluster_id) const;
  std::filesystem::path engine_file(const std::string& cluster_id) const;
  // security/ipcontroller[-<cluster_id>]-curve.json: the controller's CurveZMQ key pair, kept
  // (0600) so that a controller restarted with --reuse/--restore keeps the server key its
  // connection files carry
  std::filesystem::path curve_key_file(const std::string& cluster_id) const;
  // security/cluster-<cluster_id>.json (cluster-.json for the empty id)
  std::filesystem::path cluster_file(const std::string& cluster_id) const;
  // log/engines<cluster_id>.json (no separator)
  std::filesystem::path engine_state_file(const std::string& cluster_id) const;
  // log/task-clients<cluster_id>.json: the task port's route to each client session
  std::filesystem::path task_clients_file(const std::string& cluster_id) const;

 private:
  std::filesystem::path location_;
  std::string name_;
};

}  // namespace ipp::config
