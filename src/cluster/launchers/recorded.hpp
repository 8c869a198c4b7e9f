#pragma once
// What `ipcluster stop`, `list` and a new `start` do with the MPI and batch entries of a cluster
// file, without the ipcluster that wrote it: is the recorded mpiexec or job still there, and
// stop it (the delete command with the recorded job id, as Python's launcher would).
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/cluster_file.hpp>

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

namespace ipp::cluster {

// nullopt: cannot tell (the status command failed or there is none).
std::optional<bool> recorded_alive(const std::string& cls, const LauncherState& st, bool engines,
                                   const ClusterSettings& s);

void stop_recorded(const std::string& cls, const LauncherState& st, bool engines,
                   const ClusterSettings& s, const std::shared_ptr<spdlog::logger>& log);

}  // namespace ipp::cluster
