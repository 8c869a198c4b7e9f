#include <ipp/cluster/app.hpp>
#include <ipp/config/error.hpp>
#include <ipp/util/log.hpp>

#include "commands/common.hpp"

#include <ipp/cluster/process.hpp>

#include <cstdlib>
#include <iostream>

namespace ipp::cluster {

namespace fs = std::filesystem;
using ipp::config::ConfigError;

fs::path profile_templates_dir() {
  auto ok = [](const fs::path& d) { return fs::exists(d / "ipcluster_config.py"); };
  if (const char* env = std::getenv("IPP_PROFILE_TEMPLATES"); env != nullptr && *env != '\0') {
    if (ok(env)) return env;
  }
  const auto bin = self_dir();
  for (const auto& d :
       {bin / ".." / "share" / "ipp" / "profiles", bin / ".." / ".." / "profiles"}) {
    if (ok(d)) return fs::weakly_canonical(d);
  }
  // The source tree this library was built from (src/cluster/app.cpp -> profiles/).
  auto src = fs::path(__FILE__).parent_path().parent_path().parent_path() / "profiles";
  if (ok(src)) return src;
  return {};
}

int run(ClusterOptions o) {
  const std::string app = app_name(o.subcommand);
  auto level = spdlog::level::info;
  if (o.debug) level = spdlog::level::debug;
  if (o.quiet) level = spdlog::level::critical;
  if (o.log_level) {
    auto parsed = ipp::log::parse_level(*o.log_level);
    if (!parsed) {
      std::cerr << "[" << app << "] CRITICAL | Bad config encountered during initialization: "
                << "invalid log level '" << *o.log_level << "'\n";
      return exit_code::error;
    }
    level = *parsed;
  }
  ipp::log::init(app, level);
  auto log = ipp::log::get(app);
  try {
    if (o.subcommand == "start") return cmd_start(o, true);
    if (o.subcommand == "engines") return cmd_start(o, false);
    if (o.subcommand == "stop") return cmd_stop(o);
    if (o.subcommand == "list") return cmd_list(o);
    if (o.subcommand == "status") return cmd_status(o);
    if (o.subcommand == "clean") return cmd_clean(o);
    if (o.subcommand == "profile") return cmd_profile_create(o);
    if (o.subcommand == "nbextension") {
      log->warn("ipcluster nbextension is deprecated and does nothing here");
      return exit_code::ok;
    }
    return exit_code::error;
  } catch (const ConfigError& e) {
    log->critical("{}", e.what());
    return exit_code::error;
  } catch (const std::exception& e) {
    log->critical("{}", e.what());
    return exit_code::error;
  }
}

}  // namespace ipp::cluster
