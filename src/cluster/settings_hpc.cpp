// The MPI and batch-system parts of ClusterSettings: which config classes each launcher reads
// (traitlets' inheritance, most derived first, as Python's class hierarchy has them) and
// Python's defaults for each system.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/batch_system.hpp>
#include <ipp/cluster/process.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/lookup.hpp>

#include <fstream>
#include <sstream>

namespace ipp::cluster {

namespace {

using ipp::config::ConfigError;
using ipp::config::ConfigTree;
using Classes = std::vector<std::string>;

template <class T>
std::optional<T> read(const ipp::config::LoadedConfig& config, const Classes& classes,
                      std::string_view trait) {
  for (const auto& cls : classes) {
    auto it = config.origins.find(cls + "." + std::string(trait));
    if (it != config.origins.end()) {
      return ipp::config::get<T>(config.tree, classes, trait, it->second);
    }
  }
  return ipp::config::get<T>(config.tree, classes, trait);
}

template <class T>
T read_or(const ipp::config::LoadedConfig& config, const Classes& classes, std::string_view trait,
          T fallback) {
  auto v = read<T>(config, classes, trait);
  return v ? std::move(*v) : std::move(fallback);
}

// Python's class hierarchy for a launcher, most derived first.
Classes launcher_classes(const std::string& name, bool engines) {
  const std::string leaf = engines ? "EngineSetLauncher" : "ControllerLauncher";
  const std::string base = engines ? "EngineLauncher" : "ControllerLauncher";
  if (name == "mpi") {
    return {"MPI" + leaf,      "MPIExec" + leaf,       "MPILauncher",
            "MPIExecLauncher", "LocalProcessLauncher", base,
            "BaseLauncher"};
  }
  auto sys = batch_system(name);
  Classes out;
  if (sys->name != "batch") {
    out = {sys->display + leaf, sys->display + "Launcher"};
    if (sys->name == "sge") out.push_back("PBSLauncher");  // SGELauncher(PBSLauncher)
  }
  out.push_back("Batch" + leaf);
  out.push_back("BatchSystemLauncher");
  if (engines) out.push_back("EngineLauncher");
  if (!engines) out.push_back("ControllerLauncher");
  out.push_back("BaseLauncher");
  return out;
}

std::string read_text_file(const std::string& path, const std::string& setting) {
  std::ifstream in(path);
  if (!in) throw ConfigError(setting + ": cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Slurm's timelimit is traitlets.Any: an int (minutes) or a string ("1:00:00").
std::string read_scalar_text(const ipp::config::LoadedConfig& config, const Classes& classes,
                             std::string_view trait) {
  auto v = read<ConfigTree>(config, classes, trait);
  if (!v || v->is_null()) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return std::to_string(v->get<long long>());
  if (v->is_number()) return template_str(v->get<double>());
  throw ConfigError("c." + classes.front() + "." + std::string(trait) +
                    " must be a string or a number, got " + v->dump());
}

BatchSettings read_batch(const ipp::config::LoadedConfig& config, const std::string& name,
                         bool engines) {
  const Classes classes = launcher_classes(name, engines);
  const BatchSystem sys = *batch_system(name);
  BatchSettings b;
  b.system = name;
  b.config_class = classes.front();
  b.submit_command = read_or(config, classes, "submit_command", sys.submit_command);
  b.delete_command = read_or(config, classes, "delete_command", sys.delete_command);
  b.signal_command = read_or(config, classes, "signal_command", sys.signal_command);
  b.status_command = read_or(config, classes, "status_command", sys.status_command);
  b.job_id_regexp = read_or(config, classes, "job_id_regexp", sys.job_id_regexp);
  b.job_id_regexp_group = read_or(config, classes, "job_id_regexp_group", sys.job_id_regexp_group);
  b.batch_template = read_or<std::string>(config, classes, "batch_template", "");
  const auto file = read_or<std::string>(config, classes, "batch_template_file", "");
  if (b.batch_template.empty() && !file.empty()) {
    b.batch_template = read_text_file(file, "c." + b.config_class + ".batch_template_file");
  }
  b.batch_file_name = read_or(config, classes, "batch_file_name",
                              engines ? sys.engine_file_name : sys.controller_file_name);
  b.queue = read_or<std::string>(config, classes, "queue", "");
  if (name == "slurm") {
    b.account = read_or<std::string>(config, classes, "account", "");
    b.qos = read_or<std::string>(config, classes, "qos", "");
    b.timelimit = read_scalar_text(config, classes, "timelimit");
    b.options = read_or<std::string>(config, classes, "options", "");
  }
  if (auto ns = read<ConfigTree>(config, classes, "namespace")) {
    if (!ns->is_object()) {
      throw ConfigError("c." + b.config_class + ".namespace must be a dict, got " + ns->dump());
    }
    b.user_namespace = *ns;
  }
  b.output_file = read_or<std::string>(config, classes, "output_file", "");
  b.engines_per_job = read_or(config, classes, "engines_per_job", 0);
  if (b.engines_per_job < 0) {
    throw ConfigError("c." + b.config_class + ".engines_per_job must be 0 (one job) or positive");
  }
  b.status_interval = read_or(config, classes, "status_interval", 2.0);
  b.submit_timeout = read_or(config, classes, "submit_timeout", 60.0);
  if (name == "batch" && (b.submit_command.empty() || b.submit_command.front().empty())) {
    throw ConfigError("c.Cluster." +
                      std::string(engines ? "engine_launcher_class" : "controller_launcher_class") +
                      " = 'batch' needs c." + b.config_class +
                      ".submit_command, delete_command and batch_template (or "
                      "batch_template_file)");
  }
  return b;
}

MpiSettings read_mpi(const ipp::config::LoadedConfig& config, bool engines) {
  const Classes classes = launcher_classes("mpi", engines);
  MpiSettings m;
  m.mpi_cmd = read_or(config, classes, "mpi_cmd", m.mpi_cmd);
  m.mpi_args = read_or(config, classes, "mpi_args", m.mpi_args);
  return m;
}

}  // namespace

void resolve_hpc_settings(const ipp::config::LoadedConfig& config, ClusterSettings& s) {
  const auto bin = self_dir();
  const auto engine_name = s.engine_launcher;
  if (engine_name == "mpi" || batch_system(engine_name)) {
    const Classes classes = launcher_classes(engine_name, true);
    // Our ipengine next to ipcluster (a path every node sees on a shared filesystem).
    std::vector<std::string> default_engine =
        std::filesystem::exists(bin / "ipengine")
            ? std::vector<std::string>{(bin / "ipengine").string()}
            : std::vector<std::string>{IPP_PYTHON, "-m", "ipyparallel.engine"};
    s.engine_cmd = read_or(config, classes, "engine_cmd", default_engine);
    s.engine_args = read_or(config, classes, "engine_args", std::vector<std::string>{});
    if (engine_name == "mpi") {
      s.mpi_engines = read_mpi(config, true);
    } else {
      s.batch_engines = read_batch(config, engine_name, true);
    }
    s.environment = read_or(config, classes, "environment", s.environment);
  }
  const auto ctl_name = s.controller_launcher;
  if (ctl_name == "mpi" || batch_system(ctl_name)) {
    const Classes classes = launcher_classes(ctl_name, false);
    std::vector<std::string> default_controller{std::filesystem::exists(bin / "ipcontroller")
                                                    ? (bin / "ipcontroller").string()
                                                    : std::string("ipcontroller")};
    s.controller_cmd = read_or(config, classes, "controller_cmd", default_controller);
    s.controller_args = read_or(config, classes, "controller_args", std::vector<std::string>{});
    s.connection_info_timeout =
        read_or(config, classes, "connection_info_timeout", s.connection_info_timeout);
    if (ctl_name == "mpi") {
      s.mpi_controller = read_mpi(config, false);
    } else {
      s.batch_controller = read_batch(config, ctl_name, false);
    }
  }
}

}  // namespace ipp::cluster
