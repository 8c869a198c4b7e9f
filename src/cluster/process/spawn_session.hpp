#pragma once
// posix_spawn of a child in a session of its own, with a clean signal mask and default
// dispositions: the reactor blocks SIGINT/SIGTERM for its signalfd, and a child that inherited
// that would ignore `ipcluster stop`. Shared by spawn() and run_command().
#include <spawn.h>

#include <map>
#include <string>
#include <vector>

namespace ipp::cluster {

// Returns posix_spawn's error number (0 on success); `pid` receives the child. argv[0] is
// looked up on PATH unless it contains a slash. `extra_env` is added to our environment.
int spawn_in_session(const std::vector<std::string>& argv,
                     const std::map<std::string, std::string>& extra_env,
                     const posix_spawn_file_actions_t* actions, pid_t& pid);

}  // namespace ipp::cluster
