#pragma once
// ipengine's command line, environment and config files, resolved the way IPEngine does it
// (cluster-tooling.md §2.5-2.6, §6): aliases and flags become config like traitlets does, and the
// command line beats <profile>/ipengine_config.{py,json}, which beat the environment
// ($IPP_CLUSTER_ID, $IPP_PROFILE_DIR; 9.1), except $IPP_SESSION_KEY, which wins (7.1).
//
// Pure functions of (arguments, environment, files); main() calls them once at start-up. Problems
// are config::ConfigError naming the option, file or key; main() prints them as one line.
#include <ipp/config/config_file.hpp>
#include <ipp/config/tree.hpp>
#include <ipp/engine/engine.hpp>
#include <ipp/engine/python_interpreter.hpp>
#include <ipp/ssh/target.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ipp::engine {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// getenv, treating empty values as unset.
std::optional<std::string> process_env(const std::string& name);

struct CommandLine {
  config::ConfigTree tree = config::ConfigTree::object();  // aliases, flags and --Class.trait
  std::vector<std::string> extra_args;                     // positional arguments
  std::vector<std::string> warnings;                       // "Unrecognized alias: 'x' ..."
  bool help = false;
  bool version = false;
  bool show_config = false;
};

// Parses traitlets syntax: --name=value, --name value, -c value, -c=value, flags, and
// --Class.trait=value. Throws config::ConfigError for an unknown option without a value
// ("argument --x: expected one argument"), which main() maps to exit status 2 like argparse.
CommandLine parse_command_line(const std::vector<std::string>& args);

// Everything main() needs to build and run the Engine.
struct EngineSetup {
  EngineConfig engine;
  PythonSettings python;
  std::string profile_dir;
  std::string cluster_id;
  std::string log_level = "INFO";
  std::string log_file;                     // empty: stderr
  std::string work_dir;                     // empty: stay
  std::string connection_origin;            // the file read, or $IPP_CONNECTION_INFO
  std::string url_file;                     // --file, or <profile>/security/<url_file_name>
  std::optional<std::string> cli_location;  // --location given on the command line
  double wait_for_url_file = 10.0;
  bool session_key_configured = false;  // Session.key set by config, CLI or $IPP_SESSION_KEY
  std::string ssh_server;  // IPEngine.sshserver (--ssh, --sshserver); empty: none configured
  std::string ssh_key;     // IPEngine.sshkey (--sshkey)
  // Set by load_connection when the engine's connections go through an ssh server.
  std::optional<ssh::SshTarget> tunnel;
  // CurveZMQ: IPEngine.curve_serverkey / curve_publickey / curve_secretkey, each defaulting to
  // $IPP_CURVE_SERVERKEY / $IPP_CURVE_PUBLICKEY / $IPP_CURVE_SECRETKEY. The connection file's
  // curve_serverkey wins over the configured one (IPEngine.load_connector_file).
  std::string curve_serverkey;
  std::string curve_publickey;
  std::string curve_secretkey;  // never logged
  std::vector<std::string> warnings;
};

// Resolves profile, config files and environment; does not read the connection file yet.
// `loaded` receives the merged config (for --show-config).
EngineSetup resolve_setup(const CommandLine& cli, const EnvLookup& env,
                          config::LoadedConfig* loaded = nullptr);

// The engine's CurveZMQ keys, once the server key is known (empty: CurveZMQ is off): the
// configured key pair, or a new one. Throws config::ConfigError for a malformed key or a public
// key without its secret key, naming `origin` for the server key; `generate` is for tests.
std::optional<net::CurveClientKeys> resolve_curve_keys(
    const std::string& server_key, const std::string& origin, const std::string& public_key,
    const std::string& secret_key, net::CurveKeyPair (*generate)() = net::generate_curve_keypair);

// The engine connection info from $IPP_CONNECTION_INFO, else the file (the setup's url_file, or
// <profile>/security/ipcontroller[-<cluster_id>]-engine.json), waiting up to wait_for_url_file for
// it to appear, as IPEngine does. Applies --location, the file's key and scheme to `setup`. Throws
// config::ConfigError ("Fatal: connection file never arrived: <f>").
void load_connection(EngineSetup& setup, const EnvLookup& env);

// The ssh server the engine tunnels through, as IPEngine does it: IPEngine.sshserver, else the
// connection file's "ssh" (the controller's engine_ssh_server), else, when only IPEngine.sshkey
// is set, the controller's own host (the registration address); nullopt when none of these is
// set. `file_origin` names the connection file in errors. Throws config::ConfigError for a server
// that is not [user@]host[:port].
std::optional<ssh::SshTarget> tunnel_target(const std::string& ssh_server,
                                            const std::string& ssh_key,
                                            const config::ConnectionInfo& info,
                                            const std::string& file_origin);

// IPEngine.init_mpi's default (DEFAULT_MPI_INIT in ipyparallel/engine/app.py).
inline constexpr const char* kDefaultInitMpi =
    "\nfrom mpi4py import MPI\nmpi_rank = MPI.COMM_WORLD.Get_rank()\n"
    "mpi_size = MPI.COMM_WORLD.Get_size()\n";

}  // namespace ipp::engine
