// ipengine: parses the command line, builds the configuration, wires up and runs.
#include <ipp/config/error.hpp>
#include <ipp/engine/engine.hpp>
#include <ipp/engine/options.hpp>
#include <ipp/engine/python_interpreter.hpp>
#include <ipp/engine/tunnel.hpp>
#include <ipp/util/log.hpp>

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr const char* kUsage = R"(Start an IPython engine for parallel computing (C++ ipengine).

Options (as Python's ipengine; any --Class.trait=value works too):
  --profile=NAME --profile-dir=DIR --ipython-dir=DIR --cluster-id=ID
  --file=CONNECTION_FILE      default <profile>/security/ipcontroller[-ID]-engine.json
  --timeout=SECONDS           wait for the registration reply (5)
  --location=HOST             override the connection file's location
  --ssh=[USER@]HOST[:PORT]    tunnel the connections through this ssh server (also --sshserver)
  --sshkey=FILE               private key for the ssh server (default: agent and default keys)
  -c CODE / -s FILE           startup command / script
  --work-dir=DIR --log-level=LEVEL --log-to-file --debug --quiet --mpi
  --ident=UUID --user=NAME --keyfile=FILE --secure --no-secure
Environment: IPP_CONNECTION_INFO, IPP_PROFILE_DIR, IPP_CLUSTER_ID, IPP_SESSION_KEY,
  IPP_CURVE_SERVERKEY, IPP_CURVE_PUBLICKEY, IPP_CURVE_SECRETKEY (CurveZMQ).
)";

std::string self_path(const char* argv0) {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(argv0) : p.string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ipp;
  std::vector<std::string> args(argv + 1, argv + argc);
  engine::CommandLine cli;
  try {
    cli = engine::parse_command_line(args);
  } catch (const config::ConfigError& e) {
    std::cerr << "usage: ipengine [-h] [options]\nipengine: error: " << e.what() << "\n";
    return 2;
  }
  if (cli.help) {
    std::cout << kUsage;
    return 0;
  }
  if (cli.version) {
    std::cout << IPP_VERSION << "\n";
    return 0;
  }

  auto level_of = [](const std::string& text) {
    return log::parse_level(text).value_or(spdlog::level::info);
  };
  std::string cli_level = "INFO";
  if (auto it = cli.tree.find("Application"); it != cli.tree.end() && it->contains("log_level")) {
    const auto& v = (*it)["log_level"];
    cli_level = v.is_string() ? v.get<std::string>() : v.dump();
  }
  log::init("IPEngine", level_of(cli_level));

  try {
    config::LoadedConfig loaded;
    engine::EngineSetup setup = engine::resolve_setup(cli, engine::process_env, &loaded);
    if (!log::parse_level(setup.log_level)) {
      throw config::ConfigError("--log-level: '" + setup.log_level + "' is not a log level");
    }
    if (!setup.log_file.empty()) {
      std::cerr << "Sending logs to " << setup.log_file << "\n";
    }
    log::init("IPEngine", level_of(setup.log_level), setup.log_file);
    for (const auto& w : setup.warnings) spdlog::warn("{}", w);
    if (cli.show_config) {
      std::cout << loaded.tree.dump(2) << "\n";
      return 0;
    }
    if (!setup.work_dir.empty() && setup.work_dir != std::filesystem::current_path().string()) {
      std::filesystem::current_path(setup.work_dir);
      spdlog::info("Changing to working dir: {}", setup.work_dir);
    }
    engine::load_connection(setup, engine::process_env);
    setup.python.executable = self_path(argv[0]);

    // The tunnel outlives the engine (the unregistration goes through it); if its session dies,
    // the engine stops with an error.
    std::mutex running_mutex;
    engine::Engine* running = nullptr;
    std::unique_ptr<ssh::PortForwarder> tunnel;
    if (setup.tunnel) {
      tunnel = engine::open_tunnel(*setup.tunnel, setup.engine.connection,
                                   [&](const std::string& why) {
                                     std::lock_guard lock(running_mutex);
                                     if (running != nullptr) {
                                       running->request_exit(1, "SSH tunnel lost: " + why);
                                     }
                                   });
      setup.engine.tunnel_server = setup.tunnel->describe();
    }

    engine::PythonSettings python = setup.python;
    engine::Engine eng(setup.engine, [python](engine::InterpreterHost& host) {
      return engine::make_python_interpreter(python, host);
    });
    {
      std::lock_guard lock(running_mutex);
      running = &eng;
    }
    int status = eng.run();
    std::lock_guard lock(running_mutex);
    running = nullptr;
    return status;
  } catch (const config::ConfigError& e) {
    spdlog::critical("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
