#include <ipp/cluster/options.hpp>
#include <ipp/config/error.hpp>

#include <algorithm>
#include <cctype>
#include <set>

namespace ipp::cluster {

namespace {

const std::set<std::string> kSubcommands = {"start", "stop",    "engines",    "list",
                                            "clean", "profile", "nbextension", "status"};

// Options that take a value (traitlets aliases), all subcommands together; a subcommand that
// does not use one ignores it as Python ignores an unrecognised alias.
const std::set<std::string> kValueAliases = {
    "profile", "profile-dir", "ipython-dir", "log-level", "config", "work-dir", "cluster-id",
    "n",       "engines",     "controller",  "ip",        "location", "delay",  "clean-logs",
    "log-url", "signal",      "o",           "status-port",
    "min",     "max",         "idle-timeout"};
// Options that are both a flag and an alias (--daemonize, --daemonize=False).
const std::set<std::string> kFlagAliases = {"daemonize", "log-to-file"};
const std::set<std::string> kFlags = {"debug", "quiet", "init", "all", "force", "overwrite",
                                      "parallel", "help", "help-all", "h", "show-config",
                                      "show-config-json", "reuse", "json", "adapt"};

std::optional<bool> parse_bool(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return std::nullopt;
}

}  // namespace

std::string usage_text() {
  return "Usage: ipcluster SUBCOMMAND [options]\n\n"
         "Start an IPython cluster for parallel computing.\n\n"
         "Subcommands:\n"
         "  start     start a controller and engines (-n N, --profile, --cluster-id, --daemonize,\n"
         "            --engines=local|ssh, --controller=local|ssh, --ip, --location, --delay,\n"
         "            --status-port=PORT (the controller's status page and /metrics),\n"
         "            --adapt --min=N --max=M --idle-timeout=S (adaptive engines),\n"
         "            -- <controller args>)\n"
         "  engines   start engines for a running controller\n"
         "  stop      stop a cluster (--cluster-id, --all, or cluster ids as arguments)\n"
         "  list      list running clusters (-o json)\n"
         "  status    what a running cluster's controller shows: engines, tasks, queues\n"
         "            (--cluster-id, --json)\n"
         "  clean     remove cluster, connection and log files (--force, --all)\n"
         "  profile create NAME   create a profile with commented config files\n\n"
         "Common options: --profile=NAME --profile-dir=DIR --ipython-dir=DIR --log-level=LEVEL\n"
         "  --debug --work-dir=DIR --log-to-file --Class.trait=value\n";
}

ParseOutcome parse_command_line(const std::vector<std::string>& argv) {
  ParseOutcome outcome;
  ClusterOptions o;
  std::vector<std::string> args(argv.begin() + (argv.empty() ? 0 : 1), argv.end());
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "--help-all") {
    if (!args.empty()) {
      outcome.exit_code = exit_code::ok;
      outcome.message = usage_text();
      return outcome;
    }
    outcome.exit_code = exit_code::error;
    outcome.message =
        "No subcommand specified. Must specify one of: 'start', 'stop', 'engines', 'list', "
        "'status', 'clean', 'nbextension'\n\n" + usage_text();
    return outcome;
  }
  if (args[0] == "--version") {
    outcome.exit_code = exit_code::ok;
    outcome.message = IPP_VERSION;
    return outcome;
  }
  if (kSubcommands.count(args[0]) == 0) {
    outcome.exit_code = exit_code::error;
    outcome.message = "Unknown subcommand '" + args[0] + "'. Must specify one of: 'start', "
                      "'stop', 'engines', 'list', 'status', 'clean', 'nbextension'\n\n" + usage_text();
    return outcome;
  }
  o.subcommand = args[0];
  args.erase(args.begin());

  try {
    std::vector<std::string> with_prog{"ipcluster"};
    with_prog.insert(with_prog.end(), args.begin(), args.end());
    o.cli = ipp::config::extract_cli_config(with_prog);
  } catch (const ipp::config::ConfigError& e) {
    outcome.exit_code = exit_code::usage;
    outcome.message = usage_text() + "ipcluster " + o.subcommand + ": error: " + e.what();
    return outcome;
  }
  std::vector<std::string> rest = o.cli.rest;
  if (!rest.empty() && rest.front() == "ipcluster") rest.erase(rest.begin());

  auto set_value = [&](const std::string& name, const std::string& value) -> std::string {
    try {
      if (name == "profile") o.profile = value;
      else if (name == "profile-dir") o.profile_dir = value;
      else if (name == "ipython-dir") o.ipython_dir = value;
      else if (name == "log-level") o.log_level = value;
      else if (name == "config") o.config_file = value;
      else if (name == "work-dir") o.work_dir = value;
      else if (name == "cluster-id") o.cluster_id = value;
      else if (name == "n") {
        std::size_t used = 0;
        int v = std::stoi(value, &used);
        if (used != value.size() || v < 0) throw std::invalid_argument(value);
        o.n = v;
      } else if (name == "status-port") {
        std::size_t used = 0;
        int v = std::stoi(value, &used);
        if (used != value.size() || v < 0 || v > 65535) throw std::invalid_argument(value);
        o.status_port = v;
      } else if (name == "min" || name == "max") {
        std::size_t used = 0;
        int v = std::stoi(value, &used);
        if (used != value.size() || v < 0) throw std::invalid_argument(value);
        (name == "min" ? o.adapt_min : o.adapt_max) = v;
      } else if (name == "idle-timeout") {
        std::size_t used = 0;
        double v = std::stod(value, &used);
        if (used != value.size() || !(v >= 0)) throw std::invalid_argument(value);
        o.idle_timeout = v;
      } else if (name == "engines") o.engines = value;
      else if (name == "controller") o.controller = value;
      else if (name == "ip") o.ip = value;
      else if (name == "location") o.location = value;
      else if (name == "delay") {
        std::size_t used = 0;
        double v = std::stod(value, &used);
        if (used != value.size()) throw std::invalid_argument(value);
        o.delay = v;
      } else if (name == "o") {
        std::string f = value;
        std::transform(f.begin(), f.end(), f.begin(), [](unsigned char c) { return std::tolower(c); });
        if (f != "text" && f != "json") return "-o must be 'text' or 'json', not '" + value + "'";
        o.output_format = f;
      } else if (name == "daemonize" || name == "log-to-file") {
        auto b = parse_bool(value);
        if (!b) return "--" + name + " expects True or False, not '" + value + "'";
        (name == "daemonize" ? o.daemonize : o.log_to_file) = *b;
      }
      // clean-logs, log-url, signal: accepted, no effect (as in Python 7+).
    } catch (const std::exception&) {
      return "invalid value for --" + name + ": '" + value + "'";
    }
    return "";
  };

  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& a = rest[i];
    if (a == "--") {
      o.extra_args.insert(o.extra_args.end(), rest.begin() + static_cast<long>(i) + 1, rest.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      o.extra_args.push_back(a);
      continue;
    }
    std::string body = a.substr(a[1] == '-' ? 2 : 1);
    std::string name = body, value;
    bool has_value = false;
    if (auto eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (kValueAliases.count(name) != 0) {
      if (!has_value) {
        if (i + 1 >= rest.size() || (rest[i + 1].rfind("--", 0) == 0 && rest[i + 1].size() > 2)) {
          outcome.exit_code = exit_code::usage;
          outcome.message = usage_text() + "ipcluster " + o.subcommand + ": error: argument --" +
                            name + ": expected one argument";
          return outcome;
        }
        value = rest[++i];
      }
      if (auto err = set_value(name, value); !err.empty()) {
        outcome.exit_code = exit_code::error;
        outcome.message = "[IPCluster] CRITICAL | Bad config encountered during initialization: " + err;
        return outcome;
      }
      continue;
    }
    if (kFlagAliases.count(name) != 0) {
      if (has_value) {
        if (auto err = set_value(name, value); !err.empty()) {
          outcome.exit_code = exit_code::error;
          outcome.message = "[IPCluster] CRITICAL | Bad config encountered during initialization: " + err;
          return outcome;
        }
      } else {
        (name == "daemonize" ? o.daemonize : o.log_to_file) = true;
      }
      continue;
    }
    if (kFlags.count(name) != 0 && !has_value) {
      if (name == "debug") o.debug = true;
      else if (name == "quiet") o.quiet = true;
      else if (name == "all") o.all = true;
      else if (name == "force") o.force = true;
      else if (name == "overwrite") o.overwrite = true;
      else if (name == "json") o.output_format = "json";
      else if (name == "adapt") o.adapt = true;
      else if (name == "help" || name == "help-all" || name == "h") o.help = true;
      continue;
    }
    if (has_value) {
      o.warnings.push_back("Unrecognized alias: '" + name + "', it will have no effect.");
      continue;
    }
    outcome.exit_code = exit_code::usage;
    outcome.message = usage_text() + "ipcluster " + o.subcommand + ": error: argument " + a +
                      ": expected one argument";
    return outcome;
  }
  if (o.help) {
    outcome.exit_code = exit_code::ok;
    outcome.message = usage_text();
    return outcome;
  }
  if (o.subcommand == "profile") {
    if (o.extra_args.empty() || o.extra_args[0] != "create") {
      outcome.exit_code = exit_code::error;
      outcome.message = "usage: ipcluster profile create NAME [--profile-dir=DIR] [--overwrite]";
      return outcome;
    }
    o.profile_action = "create";
    if (o.extra_args.size() > 1) o.profile_name = o.extra_args[1];
    else if (o.profile) o.profile_name = *o.profile;
    else if (!o.profile_dir) o.profile_name = "default";
  }
  outcome.options = std::move(o);
  return outcome;
}

}  // namespace ipp::cluster
