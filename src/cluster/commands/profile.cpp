// `ipcluster profile create`: a profile directory with the commented config templates.
#include "commands/common.hpp"

#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>
#include <ipp/cluster/daemonize.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/util/log.hpp>

#include <iostream>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;
using ipp::config::ProfileDir;

int cmd_profile_create(const ClusterOptions& o) {
  auto log = ipp::log::get("ProfileCreate");
  auto popts = profile_options(o);
  if (!o.profile_name.empty()) popts.profile = o.profile_name;
  auto pdir = ProfileDir::resolve(popts, /*create=*/true);
  const auto templates = profile_templates_dir();
  if (templates.empty()) {
    throw ConfigError(
        "profile templates not found (set IPP_PROFILE_TEMPLATES to the profiles/ "
        "directory of the ipp source or install tree)");
  }
  for (const char* name : {"ipcluster_config.py", "ipcontroller_config.py", "ipengine_config.py"}) {
    auto dest = pdir.location() / name;
    if (fs::exists(dest) && !o.overwrite) {
      log->info("Config file {} already exists; keeping it (use --overwrite to replace)",
                dest.string());
      continue;
    }
    log->info("Generating default config file: '{}'", dest.string());
    fs::copy_file(templates / name, dest, fs::copy_options::overwrite_existing);
  }
  std::cout << pdir.location().string() << "\n";
  return exit_code::ok;
}

}  // namespace ipp::cluster
