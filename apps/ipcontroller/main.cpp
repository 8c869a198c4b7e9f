// ipcontroller: parses the command line and config files into ControllerOptions and runs the
// controller. Command line and config keys are Python ipyparallel's (cluster-tooling.md 2.6).
#include <ipp/config/cli_compat.hpp>
#include <ipp/config/config_file.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/lookup.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/controller/controller.hpp>
#include <ipp/util/log.hpp>

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace {

using ipp::config::ConfigError;

// "10101-10120,10200" -> ports
std::vector<int> parse_ports(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    auto dash = part.find('-');
    try {
      if (dash == std::string::npos) {
        out.push_back(std::stoi(part));
      } else {
        int a = std::stoi(part.substr(0, dash)), b = std::stoi(part.substr(dash + 1));
        for (int p = a; p <= b; ++p) out.push_back(p);
      }
    } catch (const std::exception&) {
      throw ConfigError("--ports: cannot parse '" + part + "' (expected N or N-M)");
    }
  }
  return out;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  auto cli = ipp::config::extract_cli_config(argc, argv);

  CLI::App app{"ipcontroller: the IPython Parallel controller (hub and schedulers), in C++",
               "ipcontroller"};
  app.set_version_flag("--version", IPP_VERSION);
  std::string profile = "default", profile_dir, ipython_dir, cluster_id, ip, location, ssh,
              enginessh, transport, ports, scheme, log_level, work_dir, keyfile, ident, user,
              extra_config;
  int ping = 0, hwm = -1, port = 0, status_port = -1;
  std::string status_ip;
  bool reuse = false, restore = false, nodb = false, sqlitedb = false, dictdb = false,
       mongodb = false, usethreads = false, secure = false, no_secure = false, debug = false,
       quiet = false, log_to_file = false, init = false;
  std::string clean_logs;
  app.add_option("--profile", profile, "profile name");
  app.add_option("--profile-dir", profile_dir, "profile directory");
  app.add_option("--ipython-dir", ipython_dir, "IPython directory");
  app.add_option("--cluster-id", cluster_id, "cluster id (names the connection files)");
  app.add_option("--ip", ip, "IP address to listen on ('*' for all interfaces)");
  app.add_option("--location", location, "address engines and clients should dial");
  app.add_option("--ssh", ssh, "ssh server clients should tunnel through");
  app.add_option("--enginessh", enginessh, "ssh server engines should tunnel through");
  app.add_option("--transport", transport, "zmq transport (tcp)");
  app.add_option("--port", port, "registration port (deprecated)");
  app.add_option("--ports", ports, "port pool, e.g. 10101-10120");
  app.add_option("--ping", ping, "heartbeat period in ms");
  app.add_option("--status-port", status_port,
                 "serve the status page, /metrics and /api/status on this port (0: any)");
  app.add_option("--status-ip", status_ip, "address of the status endpoint (127.0.0.1)");
  app.add_option("--scheme", scheme, "task scheme: leastload lru twobin weighted plainrandom pure");
  app.add_option("--hwm", hwm, "max outstanding tasks per engine (0 = unlimited)");
  app.add_option("--log-level", log_level, "log level (10-50 or DEBUG..CRITICAL)");
  app.add_option("--work-dir", work_dir, "working directory");
  app.add_option("--config", extra_config, "extra config file");
  app.add_option("--keyfile", keyfile, "file holding the session key");
  app.add_option("--ident", ident, "session id");
  app.add_option("--user", user, "session user name");
  app.add_option("--clean-logs", clean_logs, "accepted for compatibility");
  app.add_flag("--reuse", reuse, "reuse existing connection files");
  app.add_flag("--restore", restore, "reuse files and restore engines from the state file");
  app.add_flag("--nodb", nodb, "keep no task records");
  app.add_flag("--sqlitedb", sqlitedb, "keep task records in SQLite");
  app.add_flag("--dictdb", dictdb, "keep task records in memory (default)");
  app.add_flag("--mongodb", mongodb, "not supported");
  app.add_flag("--usethreads", usethreads, "accepted; schedulers always run as threads");
  app.add_flag("--secure", secure, "use a new random key (default)");
  app.add_flag("--no-secure", no_secure, "no message signing");
  app.add_flag("--debug", debug, "log level DEBUG");
  app.add_flag("--quiet", quiet, "log level CRITICAL");
  app.add_flag("--log-to-file", log_to_file, "log to <profile>/log/");
  app.add_flag("--init", init, "accepted for compatibility");
  app.allow_extras();
  try {
    // extract_cli_config already dropped argv[0]; CLI11 takes the arguments in reverse order.
    std::vector<std::string> rest(cli.rest.rbegin(), cli.rest.rend());
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const auto& extra : app.remaining()) {
    std::cerr << "ipcontroller: WARNING | Unrecognized argument: '" << extra
              << "', it will have no effect.\n";
  }

  try {
    auto level = spdlog::level::info;
    if (debug) level = spdlog::level::debug;
    if (quiet) level = spdlog::level::critical;
    if (!log_level.empty()) {
      auto parsed = ipp::log::parse_level(log_level);
      if (!parsed) throw ConfigError("--log-level: invalid value '" + log_level + "'");
      level = *parsed;
    }
    ipp::log::init("IPController", level);
    auto log = ipp::log::get("IPController");

    if (!work_dir.empty()) std::filesystem::current_path(work_dir);
    ipp::config::ProfileOptions popts;
    popts.ipython_dir = ipython_dir;
    popts.profile = profile;
    popts.profile_dir = profile_dir.empty() ? env_or("IPP_PROFILE_DIR", "") : profile_dir;
    auto pdir = ipp::config::ProfileDir::resolve(popts, /*create=*/true);

    auto config = ipp::config::load_app_config(pdir.location(), "ipcontroller");
    if (!extra_config.empty()) {
      auto extra = extra_config.size() > 5 && extra_config.substr(extra_config.size() - 5) == ".json"
                       ? ipp::config::load_json_config(extra_config)
                       : ipp::config::load_python_config(extra_config);
      ipp::config::merge(config.tree, extra);
    }
    ipp::config::apply_cli_config(config, cli);
    for (const auto& w : config.warnings) log->warn("{}", w);

    using ipp::config::get;
    using ipp::config::get_or;
    ipp::controller::ControllerOptions o;
    o.profile = pdir;
    o.cluster_id = get_or<std::string>(config, {"IPController", "BaseParallelApplication"},
                                       "cluster_id", env_or("IPP_CLUSTER_ID", ""));
    if (app.count("--cluster-id")) o.cluster_id = cluster_id;
    o.ip = get_or<std::string>(config, {"IPController"}, "ip", "127.0.0.1");
    if (auto v = get<std::string>(config, {"IPController"}, "engine_ip")) o.ip = *v;
    if (app.count("--ip")) o.ip = ip;
    o.location = get_or<std::string>(config, {"IPController"}, "location", "");
    if (app.count("--location")) o.location = location;
    o.ssh_server = get_or<std::string>(config, {"IPController"}, "ssh_server", "");
    if (app.count("--ssh")) o.ssh_server = ssh;
    o.engine_ssh_server = get_or<std::string>(config, {"IPController"}, "engine_ssh_server", "");
    if (app.count("--enginessh")) o.engine_ssh_server = enginessh;
    o.transport = get_or<std::string>(config, {"IPController"}, "transport", "tcp");
    if (app.count("--transport")) o.transport = transport;
    if (auto v = get<ipp::config::ConfigTree>(config, {"IPController"}, "ports")) {
      // A port-range string ("10101-10120") or a list of ints.
      if (v->is_string()) {
        o.ports = parse_ports(v->get<std::string>());
      } else if (v->is_array()) {
        for (const auto& p : *v) {
          if (!p.is_number_integer()) throw ConfigError("c.IPController.ports: not a port: " + p.dump());
          o.ports.push_back(p.get<int>());
        }
      }
    }
    for (const char* trait : {"regport", "engine_ports", "client_ports"}) {
      if (auto v = get<ipp::config::ConfigTree>(config, {"IPController"}, trait)) {
        if (v->is_number_integer()) o.ports.insert(o.ports.begin(), v->get<int>());
      }
    }
    if (app.count("--ports")) o.ports = parse_ports(ports);
    if (app.count("--port")) o.ports.insert(o.ports.begin(), port);
    o.reuse_files = get_or<bool>(config, {"IPController"}, "reuse_files", false) || reuse || restore;
    o.restore_engines = get_or<bool>(config, {"IPController"}, "restore_engines", false) || restore;
    o.scheme = get_or<std::string>(config, {"TaskScheduler"}, "scheme_name", "leastload");
    if (app.count("--scheme")) o.scheme = scheme;
    o.hwm = get_or<int>(config, {"TaskScheduler"}, "hwm", 1);
    if (hwm >= 0) o.hwm = hwm;
    o.ping_ms = get_or<int>(config, {"HeartMonitor"}, "period", 3000);
    if (ping > 0) o.ping_ms = ping;
    o.max_heartmonitor_misses =
        get_or<int>(config, {"HeartMonitor"}, "max_heartmonitor_misses", 10);
    o.broadcast_depth = get_or<int>(config, {"IPController"}, "broadcast_scheduler_depth", 1);
    std::string db_class = get_or<std::string>(config, {"IPController"}, "db_class", "DictDB");
    if (nodb) db_class = "NoDB";
    if (sqlitedb) db_class = "SQLiteDB";
    if (dictdb) db_class = "DictDB";
    if (mongodb) throw ConfigError("--mongodb: the MongoDB backend is not supported; use --sqlitedb");
    if (db_class.find("NoDB") != std::string::npos) {
      o.db = ipp::controller::DbKind::None;
    } else if (db_class.find("SQLite") != std::string::npos) {
      o.db = ipp::controller::DbKind::Sqlite;
    } else if (db_class.find("DictDB") != std::string::npos) {
      o.db = ipp::controller::DbKind::Memory;
    } else {
      throw ConfigError("IPController.db_class: unknown backend '" + db_class + "'");
    }
    o.db_dir = get_or<std::string>(config, {"SQLiteDB"}, "location", "");
    o.record_limit = static_cast<std::size_t>(get_or<int>(config, {"DictDB"}, "record_limit", 1024));
    o.signature_scheme = get_or<std::string>(config, {"Session"}, "signature_scheme", "hmac-sha256");
    if (auto v = get<std::string>(config, {"Session"}, "key")) o.key = *v;
    if (!keyfile.empty()) {
      std::ifstream in(keyfile);
      if (!in) throw ConfigError("--keyfile: cannot read '" + keyfile + "'");
      std::string k;
      std::getline(in, k);
      o.key = k;
    }
    if (const char* k = std::getenv("IPP_SESSION_KEY")) o.key = std::string(k);
    if (no_secure) o.key = std::string();
    // CurveZMQ: config over the environment, as the traits' defaults read it in Python.
    o.enable_curve = get_or<bool>(config, {"IPController"}, "enable_curve",
                                  env_or("IPP_ENABLE_CURVE", "") == "1");
    o.curve_publickey = get_or<std::string>(config, {"IPController"}, "curve_publickey",
                                            env_or("IPP_CURVE_PUBLICKEY", ""));
    o.curve_secretkey = get_or<std::string>(config, {"IPController"}, "curve_secretkey",
                                            env_or("IPP_CURVE_SECRETKEY", ""));
    if (auto v = get<int>(config, {"IPController"}, "status_port")) o.status_port = *v;
    if (app.count("--status-port")) o.status_port = status_port;
    if (o.status_port && (*o.status_port < 0 || *o.status_port > 65535)) {
      throw ConfigError("IPController.status_port: not a port: " + std::to_string(*o.status_port));
    }
    o.status_ip = get_or<std::string>(config, {"IPController"}, "status_ip", "127.0.0.1");
    if (app.count("--status-ip")) o.status_ip = status_ip;
    o.status_token = get_or<std::string>(config, {"IPController"}, "status_token",
                                         env_or("IPP_STATUS_TOKEN", ""));
    if (log_to_file) {
      auto file = pdir.log() / ("ipcontroller-" + o.cluster_id + "-" +
                                std::to_string(::getpid()) + ".log");
      std::cerr << "Sending logs to " << file.string() << "\n";
      ipp::log::init("IPController", spdlog::level::debug, file.string());
    }
    return ipp::controller::run_controller(o);
  } catch (const ConfigError& e) {
    std::cerr << "[IPController] CRITICAL | Bad config encountered during initialization: "
              << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "[IPController] CRITICAL | " << e.what() << "\n";
    return 1;
  }
}
