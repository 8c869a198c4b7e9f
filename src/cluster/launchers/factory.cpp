// Which launchers `ipcluster` builds for the configured launcher names.
#include "factory.hpp"

#include <ipp/cluster/batch_system.hpp>

#include <filesystem>

namespace ipp::cluster {

std::vector<std::unique_ptr<EngineSetLauncher>> make_engine_launchers(
    const ClusterSettings& s, const LaunchContext& ctx, int n,
    const std::function<std::string()>& new_set_id, std::vector<int>& counts, int jobs_before) {
  std::vector<std::unique_ptr<EngineSetLauncher>> out;
  counts.clear();
  const auto& name = s.engine_launcher;
  if (name == "local" || name == "mpi" || name == "ssh" || name == "sshproxy") {
    LaunchContext c = ctx;
    c.set_id = new_set_id();
    if (name == "local") out.push_back(make_local_engines(s, c));
    if (name == "mpi") out.push_back(make_mpi_engines(s, c));
    if (name == "ssh" || name == "sshproxy") {
      out.push_back(make_ssh_engines(s, c, name == "sshproxy"));
    }
    counts.push_back(n);
    return out;
  }
  if (!batch_system(name)) return out;
  // Several jobs of at most engines_per_job engines each, so that engines start as nodes free
  // up; each job is an engine set of its own in the cluster file.
  const int per_job = s.batch_engines.engines_per_job > 0 ? s.batch_engines.engines_per_job : n;
  int left = n;
  int k = 0;
  while (left > 0) {
    const int this_job = std::min(per_job, left);
    LaunchContext c = ctx;
    c.set_id = new_set_id();
    std::string file = s.batch_engines.batch_file_name;
    if (k + jobs_before > 0) {
      auto p = std::filesystem::path(file);
      file = p.stem().string() + "-" + std::to_string(k + jobs_before + 1) +
             p.extension().string();
    }
    out.push_back(make_batch_engines(s, c, file));
    counts.push_back(this_job);
    left -= this_job;
    ++k;
  }
  return out;
}

std::unique_ptr<ControllerLauncher> make_controller_launcher(const ClusterSettings& s,
                                                             const LaunchContext& ctx) {
  if (s.controller_launcher == "local") return make_local_controller(s, ctx);
  if (s.controller_launcher == "ssh") return make_ssh_controller(s, ctx);
  if (s.controller_launcher == "mpi") return make_mpi_controller(s, ctx);
  if (batch_system(s.controller_launcher)) return make_batch_controller(s, ctx);
  return nullptr;
}

}  // namespace ipp::cluster
