#pragma once
// Constructors of the launchers behind ipp/cluster/launcher.hpp, one per file.
#include <ipp/cluster/app.hpp>
#include <ipp/cluster/launcher.hpp>

#include <memory>

namespace ipp::cluster {

std::unique_ptr<EngineSetLauncher> make_local_engines(const ClusterSettings& s,
                                                      const LaunchContext& ctx);
std::unique_ptr<EngineSetLauncher> make_ssh_engines(const ClusterSettings& s,
                                                    const LaunchContext& ctx, bool proxy);
std::unique_ptr<ControllerLauncher> make_local_controller(const ClusterSettings& s,
                                                          const LaunchContext& ctx);
std::unique_ptr<ControllerLauncher> make_ssh_controller(const ClusterSettings& s,
                                                        const LaunchContext& ctx);
std::unique_ptr<EngineSetLauncher> make_mpi_engines(const ClusterSettings& s,
                                                    const LaunchContext& ctx);
std::unique_ptr<ControllerLauncher> make_mpi_controller(const ClusterSettings& s,
                                                        const LaunchContext& ctx);
// `batch_file_name`: where in the profile the script goes (one name per job).
std::unique_ptr<EngineSetLauncher> make_batch_engines(const ClusterSettings& s,
                                                      const LaunchContext& ctx,
                                                      const std::string& batch_file_name);
std::unique_ptr<ControllerLauncher> make_batch_controller(const ClusterSettings& s,
                                                          const LaunchContext& ctx);

}  // namespace ipp::cluster
