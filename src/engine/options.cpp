#include <ipp/config/cli_compat.hpp>
#include <ipp/config/connection_info.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/lookup.hpp>
#include <ipp/config/profile_dir.hpp>
#include <ipp/engine/options.hpp>
#include <ipp/util/ids.hpp>
#include <ipp/util/log.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

namespace ipp::engine {

namespace fs = std::filesystem;
using config::ConfigError;
using config::ConfigTree;

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

namespace {

// ipengine's aliases (engine/app.py) plus baseapp.base_aliases and jupyter_client's
// session_aliases: option -> "Class.trait".
const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> table = {
      {"file", "IPEngine.url_file"},
      {"c", "IPEngine.startup_command"},
      {"s", "IPEngine.startup_script"},
      {"url", "IPEngine.registration_url"},
      {"ssh", "IPEngine.sshserver"},
      {"sshserver", "IPEngine.sshserver"},  // not an alias in Python; the trait's own name
      {"sshkey", "IPEngine.sshkey"},
      {"location", "IPEngine.location"},
      {"timeout", "IPEngine.timeout"},
      {"profile", "BaseIPythonApplication.profile"},
      {"profile-dir", "ProfileDir.location"},
      {"ipython-dir", "BaseIPythonApplication.ipython_dir"},
      {"log-level", "Application.log_level"},
      {"config", "BaseIPythonApplication.extra_config_file"},
      {"work-dir", "BaseParallelApplication.work_dir"},
      {"log-to-file", "BaseParallelApplication.log_to_file"},
      {"clean-logs", "BaseParallelApplication.clean_logs"},
      {"log-url", "BaseParallelApplication.log_url"},
      {"cluster-id", "BaseParallelApplication.cluster_id"},
      {"ident", "Session.session"},
      {"user", "Session.username"},
      {"keyfile", "Session.keyfile"},
  };
  return table;
}

void set_trait(ConfigTree& tree, const std::string& dotted, ConfigTree value) {
  auto dot = dotted.find('.');
  tree[dotted.substr(0, dot)][dotted.substr(dot + 1)] = std::move(value);
}

// Flags: option -> settings. --secure/--no-secure set Session.key.
bool apply_flag(const std::string& name, CommandLine& out) {
  if (name == "mpi") {
    set_trait(out.tree, "IPEngine.use_mpi", true);
  } else if (name == "debug") {
    set_trait(out.tree, "Application.log_level", 10);
  } else if (name == "quiet") {
    set_trait(out.tree, "Application.log_level", 50);
  } else if (name == "log-to-file") {
    set_trait(out.tree, "BaseParallelApplication.log_to_file", true);
  } else if (name == "secure") {
    set_trait(out.tree, "Session.key", new_id());
  } else if (name == "no-secure") {
    set_trait(out.tree, "Session.key", "");
  } else if (name == "init") {
    // copies config files into the profile in Python; nothing to do for the engine
  } else if (name == "help" || name == "help-all") {
    out.help = true;
  } else if (name == "version") {
    out.version = true;
  } else if (name == "show-config" || name == "show-config-json") {
    out.show_config = true;
  } else {
    return false;
  }
  return true;
}

}  // namespace

CommandLine parse_command_line(const std::vector<std::string>& args) {
  config::CliConfig cli = config::extract_cli_config(args);
  CommandLine out;
  out.tree = cli.tree;
  const auto& rest = cli.rest;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& arg = rest[i];
    if (arg == "--") {
      out.extra_args.insert(out.extra_args.end(), rest.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                            rest.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.extra_args.push_back(arg);
      continue;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    auto alias = aliases().find(body);
    if (alias != aliases().end()) {
      // --log-to-file is both a flag and an alias: without a value it is the flag
      if (!value && body == "log-to-file") {
        apply_flag(body, out);
        continue;
      }
      if (!value) {
        if (i + 1 >= rest.size() || (rest[i + 1].size() > 1 && rest[i + 1][0] == '-' &&
                                     !config::parse_cli_value(rest[i + 1]).is_number())) {
          throw ConfigError("argument --" + body + ": expected one argument");
        }
        value = rest[++i];
      }
      set_trait(out.tree, alias->second, config::parse_cli_value(*value));
      continue;
    }
    if (!value && apply_flag(body, out)) continue;
    if (value) {
      out.warnings.push_back("Unrecognized alias: '" + body + "', it will have no effect.");
      continue;
    }
    throw ConfigError("argument " + arg + ": expected one argument");
  }
  return out;
}

EngineSetup resolve_setup(const CommandLine& cli, const EnvLookup& env,
                          config::LoadedConfig* loaded_out) {
  EngineSetup setup;
  const ConfigTree& c = cli.tree;
  auto cli_str = [&](std::string_view cls, std::string_view trait) -> std::optional<std::string> {
    return config::get<std::string>(c, cls, trait, "command line");
  };

  // 1. the profile (it locates the config files)
  config::ProfileOptions popts;
  if (auto v = cli_str("BaseIPythonApplication", "ipython_dir")) popts.ipython_dir = *v;
  if (auto v = cli_str("BaseIPythonApplication", "profile")) popts.profile = *v;
  if (auto v = cli_str("ProfileDir", "location")) popts.profile_dir = *v;
  if (popts.profile_dir.empty()) {
    if (auto v = env("IPP_PROFILE_DIR")) popts.profile_dir = *v;
  }
  auto profile = config::ProfileDir::resolve(popts, /*create=*/false);
  setup.profile_dir = profile.location().string();

  // 2. config files, then the command line over them
  config::LoadedConfig loaded = config::load_app_config(profile.location(), "ipengine");
  if (auto extra = cli_str("BaseIPythonApplication", "extra_config_file")) {
    fs::path p(*extra);
    auto tree =
        p.extension() == ".json" ? config::load_json_config(p) : config::load_python_config(p);
    config::merge(loaded, tree, p.string());
  }
  config::CliConfig as_cli;
  as_cli.tree = c;
  config::apply_cli_config(loaded, as_cli);
  setup.warnings = loaded.warnings;
  for (const auto& w : cli.warnings) setup.warnings.push_back(w);

  const std::initializer_list<std::string_view> app = {"IPEngine", "BaseParallelApplication",
                                                       "BaseIPythonApplication", "Application"};
  const std::initializer_list<std::string_view> engine = {"IPEngine"};

  // 3. environment under the config (9.1 applies it first and lets config win)
  setup.cluster_id =
      config::get_or<std::string>(loaded, app, "cluster_id", env("IPP_CLUSTER_ID").value_or(""));
  if (auto v = config::get<ConfigTree>(loaded, app, "log_level")) {
    setup.log_level = v->is_string() ? v->get<std::string>() : v->dump();
  }
  if (config::get_or<bool>(loaded, app, "log_to_file", false)) {
    setup.log_file = (profile.log() /
                      ("ipengine-" + setup.cluster_id + "-" + std::to_string(::getpid()) + ".log"))
                         .string();
  }
  setup.work_dir = config::get_or<std::string>(loaded, app, "work_dir", "");

  // 4. engine traits
  auto& e = setup.engine;
  e.timeout_s = config::get_or<double>(loaded, engine, "timeout", 5.0);
  e.max_heartbeat_misses = config::get_or<int>(loaded, engine, "max_heartbeat_misses", 50);
  setup.wait_for_url_file = config::get_or<double>(loaded, engine, "wait_for_url_file", 10.0);
  if (auto id = config::get<int>(loaded, engine, "id")) e.requested_id = *id;
  // with use_mpi and no IPEngine.id, the engine requests its MPI rank once MPI is initialised
  const bool use_mpi = config::get_or<bool>(loaded, engine, "use_mpi", false);
  e.use_mpi = use_mpi;
  e.mpi_registration_delay_s =
      config::get_or<double>(loaded, engine, "mpi_registration_delay", e.mpi_registration_delay_s);

  if (auto f = config::get<std::string>(loaded, engine, "url_file"); f && !f->empty()) {
    setup.url_file = *f;
  } else {
    std::string name = setup.cluster_id.empty()
                           ? "ipcontroller-engine.json"
                           : "ipcontroller-" + setup.cluster_id + "-engine.json";
    name = config::get_or<std::string>(loaded, engine, "url_file_name", name);
    setup.url_file = (profile.security() / name).string();
  }
  if (auto loc = cli_str("IPEngine", "location")) setup.cli_location = *loc;
  if (auto url = config::get<std::string>(loaded, engine, "registration_url");
      url && !url->empty()) {
    setup.warnings.push_back(
        "IPEngine.registration_url (--url) has no effect: the registration "
        "address comes from the connection file, as in ipyparallel");
  }
  setup.ssh_server = config::get_or<std::string>(loaded, engine, "sshserver", "");
  setup.ssh_key = config::get_or<std::string>(loaded, engine, "sshkey", "");
  if (config::get_or<bool>(loaded, engine, "paramiko", false)) {
    setup.warnings.push_back("IPEngine.paramiko has no effect: tunnels are made in-process");
  }

  // start-up code: exec_lines/exec_files of IPKernelApp or InteractiveShellApp, then -s / -c
  for (const char* cls : {"IPKernelApp", "InteractiveShellApp"}) {
    if (auto v = config::get<std::vector<std::string>>(loaded, cls, "exec_lines")) {
      e.exec_lines = *v;
      break;
    }
  }
  for (const char* cls : {"IPKernelApp", "InteractiveShellApp"}) {
    if (auto v = config::get<std::vector<std::string>>(loaded, cls, "exec_files")) {
      e.exec_files = *v;
      break;
    }
  }
  if (auto s = config::get<std::string>(loaded, engine, "startup_script"); s && !s->empty()) {
    e.exec_files.push_back(*s);
  }
  if (auto s = config::get<std::string>(loaded, engine, "startup_command"); s && !s->empty()) {
    e.exec_lines.push_back(*s);
  }
  if (use_mpi) {
    // IPEngine.init_mpi runs first, in the user namespace, before any other startup code
    std::string init = config::get_or<std::string>(loaded, engine, "init_mpi", kDefaultInitMpi);
    if (!init.empty()) e.exec_lines.insert(e.exec_lines.begin(), init);
  }
  e.startup_dir = profile.startup().string();

  // 5. session: $IPP_SESSION_KEY wins (7.1 applies it after the command line)
  const std::initializer_list<std::string_view> session = {"Session"};
  auto& s = e.session;
  if (auto key = config::get<std::string>(loaded, session, "key")) {
    s.key = *key;
    setup.session_key_configured = true;
  } else if (auto keyfile = config::get<std::string>(loaded, session, "keyfile");
             keyfile && !keyfile->empty()) {
    std::ifstream in(*keyfile);
    if (!in) throw ConfigError("Session.keyfile: cannot read '" + *keyfile + "'");
    std::getline(in, s.key);
    setup.session_key_configured = true;
  }
  if (auto key = env("IPP_SESSION_KEY")) {
    s.key = *key;
    setup.session_key_configured = true;
  }
  s.signature_scheme =
      config::get_or<std::string>(loaded, session, "signature_scheme", "hmac-sha256");
  setup.curve_serverkey = config::get_or<std::string>(loaded, engine, "curve_serverkey",
                                                      env("IPP_CURVE_SERVERKEY").value_or(""));
  setup.curve_publickey = config::get_or<std::string>(loaded, engine, "curve_publickey",
                                                      env("IPP_CURVE_PUBLICKEY").value_or(""));
  setup.curve_secretkey = config::get_or<std::string>(loaded, engine, "curve_secretkey",
                                                      env("IPP_CURVE_SECRETKEY").value_or(""));
  s.username = config::get_or<std::string>(loaded, session, "username", "");
  s.session_id = config::get_or<std::string>(loaded, session, "session", "");
  if (s.session_id.empty()) s.session_id = new_id();

  // 6. the interpreter
  auto& py = setup.python;
  py.engine_uuid = s.session_id;
  py.buffer_threshold = config::get_or<int>(loaded, session, "buffer_threshold", 1024);
  py.item_threshold = config::get_or<int>(loaded, session, "item_threshold", 64);
  py.use_ipython = config::get_or<bool>(loaded, engine, "use_ipython", true);
  if (env("IPP_ENGINE_PLAIN_PYTHON").value_or("0") != "0") py.use_ipython = false;
  py.profile_dir = setup.profile_dir;
  if (auto interp = env("IPP_ENGINE_PYTHON")) py.interpreter = *interp;

  if (loaded_out != nullptr) *loaded_out = std::move(loaded);
  return setup;
}

std::optional<net::CurveClientKeys> resolve_curve_keys(const std::string& server_key,
                                                       const std::string& origin,
                                                       const std::string& public_key,
                                                       const std::string& secret_key,
                                                       net::CurveKeyPair (*generate)()) {
  if (server_key.empty()) return std::nullopt;
  if (!net::is_curve_key(server_key)) {
    throw ConfigError(origin + ": not a Z85-encoded CurveZMQ public key (" +
                      std::to_string(net::kCurveKeyLength) + " characters expected, got " +
                      std::to_string(server_key.size()) + ")");
  }
  try {
    net::require_curve("curve_serverkey");
  } catch (const std::runtime_error& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  net::CurveClientKeys keys;
  keys.server_key = server_key;
  if (secret_key.empty()) {
    if (!public_key.empty()) {
      throw ConfigError(
          "IPEngine.curve_publickey is set but IPEngine.curve_secretkey is not: give both (or "
          "$IPP_CURVE_PUBLICKEY and $IPP_CURVE_SECRETKEY), or neither to generate a pair");
    }
    spdlog::info("Generating new CURVE credentials");
    keys.own = generate();
    return keys;
  }
  auto derived = net::curve_public_key_of(secret_key);
  if (!derived) {
    throw ConfigError("IPEngine.curve_secretkey: not a Z85-encoded CurveZMQ key (" +
                      std::to_string(net::kCurveKeyLength) + " characters expected, got " +
                      std::to_string(secret_key.size()) + ")");
  }
  if (!public_key.empty() && public_key != *derived) {
    throw ConfigError("IPEngine.curve_publickey does not belong to IPEngine.curve_secretkey");
  }
  keys.own = net::CurveKeyPair{*derived, secret_key};
  return keys;
}

void load_connection(EngineSetup& setup, const EnvLookup& env) {
  nlohmann::json j;
  if (auto info = env("IPP_CONNECTION_INFO")) {
    setup.connection_origin = "$IPP_CONNECTION_INFO";
    try {
      j = nlohmann::json::parse(*info);
    } catch (const std::exception& e) {
      throw ConfigError("$IPP_CONNECTION_INFO is not valid JSON: " + std::string(e.what()));
    }
  } else {
    const fs::path file = setup.url_file;
    std::error_code ec;
    if (!fs::exists(file, ec) && setup.wait_for_url_file > 0) {
      spdlog::warn("Connection file '{}' not found", file.string());
      spdlog::warn("Waiting up to {:.1f} seconds for it to arrive.", setup.wait_for_url_file);
      auto deadline = std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(setup.wait_for_url_file));
      while (!fs::exists(file, ec) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    if (!fs::exists(file, ec)) {
      throw ConfigError("Fatal: connection file never arrived: " + file.string());
    }
    spdlog::info("Loading connection file '{}'", file.string());
    setup.connection_origin = file.string();
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    try {
      j = nlohmann::json::parse(text.str());
    } catch (const std::exception& e) {
      // a controller may be writing it right now; one retry after a moment
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::ifstream again(file);
      std::stringstream t2;
      t2 << again.rdbuf();
      try {
        j = nlohmann::json::parse(t2.str());
      } catch (const std::exception& e2) {
        throw ConfigError(file.string() + ": not valid JSON: " + e2.what());
      }
    }
  }
  auto info =
      config::ConnectionInfo::from_json(j, config::ConnectionKind::Engine, setup.connection_origin);
  if (setup.cli_location) info.location = *setup.cli_location;
  if (info.pack != "json" || info.unpack != "json") {
    throw ConfigError(setup.connection_origin + ": pack/unpack '" + info.pack + "'/'" +
                      info.unpack + "': only the json packer is supported");
  }
  // the file's curve_serverkey wins over IPEngine.curve_serverkey / $IPP_CURVE_SERVERKEY
  std::string server_key = setup.curve_serverkey;
  std::string server_key_origin = "IPEngine.curve_serverkey ($IPP_CURVE_SERVERKEY)";
  if (info.curve_serverkey && !info.curve_serverkey->empty()) {
    server_key = *info.curve_serverkey;
    server_key_origin = setup.connection_origin + ": curve_serverkey";
  }
  setup.engine.curve = resolve_curve_keys(server_key, server_key_origin, setup.curve_publickey,
                                          setup.curve_secretkey);
  if (setup.engine.curve) {
    spdlog::info("Using CurveZMQ security");
  } else {
    spdlog::warn("Not using CurveZMQ security");
  }
  // the file's key wins unless it is empty and a key was configured (IPEngine.load_connector_file)
  if (!info.key.empty() || !setup.session_key_configured) setup.engine.session.key = info.key;
  setup.engine.session.signature_scheme = info.signature_scheme;
  setup.tunnel = tunnel_target(setup.ssh_server, setup.ssh_key, info, setup.connection_origin);
  setup.engine.connection = std::move(info);
}

std::optional<ssh::SshTarget> tunnel_target(const std::string& ssh_server,
                                            const std::string& ssh_key,
                                            const config::ConnectionInfo& info,
                                            const std::string& file_origin) {
  std::string spec = ssh_server;
  std::string origin = "IPEngine.sshserver";
  if (spec.empty() && !info.ssh.empty()) {
    spec = info.ssh;
    origin = file_origin + ": ssh";
  }
  if (spec.empty() && !ssh_key.empty()) {
    // ssh to the controller's host itself, forwarding to its ports there (IPEngine.init_connector)
    const std::string url = info.url(info.registration);
    auto start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    spec = url.substr(start, url.rfind(':') - start);
    origin = "IPEngine.sshkey (the controller's host)";
  }
  if (spec.empty()) return std::nullopt;
  auto target = ssh::parse_server(spec);
  if (!target.ok()) throw ConfigError(origin + ": " + target.error().message);
  target->identity_file = ssh_key;
  if (ssh_key.rfind("~/", 0) == 0) {
    if (auto home = process_env("HOME")) target->identity_file = *home + ssh_key.substr(1);
  }
  return std::move(target.value());
}

}  // namespace ipp::engine
