#pragma once
// Local child processes for the launchers: spawned in their own session (as Python's
// start_new_session=True) with stdout+stderr appended to an output file, watched through a pidfd,
// stopped with SIGTERM then SIGKILL (9.1's escalation).
//
// Free functions; the caller (the ipcluster main thread) owns the pids and pidfds.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipp::cluster {

struct SpawnSpec {
  std::vector<std::string> argv;                 // argv[0] is looked up on PATH if not a path
  std::map<std::string, std::string> env;        // added to (overriding) our environment
  std::filesystem::path output_file;             // stdout+stderr, append; empty: /dev/null
  std::filesystem::path work_dir;                // empty: our cwd
};

struct Spawned {
  int pid = -1;
  int pidfd = -1;  // readable when the process exits; -1 if pidfd_open is unavailable
};

// Our environment with `extra` added (overriding), as "K=V" strings.
std::vector<std::string> merged_environment(const std::map<std::string, std::string>& extra);

// Throws std::runtime_error naming the program when it cannot be started.
Spawned spawn(const SpawnSpec& spec);

// The exit status of our child, reaped without blocking: nullopt while it runs. The int is the
// exit code, or -signal for a signal death (as Python's Popen.returncode).
std::optional<int> try_reap(int pid);

// Whether a pid exists (kill(pid, 0)); zombies of our own count as gone after try_reap.
bool pid_alive(int pid);

// SIGTERM, wait up to `grace` for it to go, then SIGKILL and wait up to `kill_wait`. Works for
// children (reaps them) and for unrelated pids (polls). True when the process is gone.
bool terminate(int pid, std::chrono::milliseconds grace = std::chrono::seconds(5),
               std::chrono::milliseconds kill_wait = std::chrono::seconds(10));

// The last `lines` lines of a text file ("" when unreadable).
std::string tail_file(const std::filesystem::path& path, std::size_t lines = 100);

// Where our own executable lives (/proc/self/exe), for finding sibling binaries.
std::filesystem::path self_dir();

// A short command run to completion (a batch system's submit, delete or status command).
struct CommandResult {
  int exit_code = -1;  // as try_reap; -1000 when it could not be started
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs `argv` with `env` added to our environment and `input` on its stdin, collecting its
// output until it exits; killed after `timeout`. Never throws: a program that cannot be started
// gives exit_code -1000 and the reason in `err`. Returns once the command itself has exited,
// even if something it started in the background still holds its output open.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          const std::string& input = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// "Exited with status 3" / "killed by signal 9 (SIGKILL)".
std::string describe_exit(int code);

}  // namespace ipp::cluster
