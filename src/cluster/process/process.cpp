#include <ipp/cluster/process.hpp>

#include "spawn_session.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace ipp::cluster {

namespace {

int open_pidfd(int pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

int spawn_in_session(const std::vector<std::string>& argv_in,
                     const std::map<std::string, std::string>& extra_env,
                     const posix_spawn_file_actions_t* actions, pid_t& pid) {
  std::vector<std::string> env_strings = merged_environment(extra_env);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  const bool has_slash = args[0].find('/') != std::string::npos;
  int rc = has_slash ? posix_spawn(&pid, argv[0], actions, &attr, argv.data(), envp.data())
                     : posix_spawnp(&pid, argv[0], actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  return rc;
}

std::vector<std::string> merged_environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

Spawned spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) throw std::runtime_error("empty command");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = spec.output_file.empty() ? "/dev/null" : spec.output_file.string();
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (!spec.work_dir.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.work_dir.c_str());

  pid_t pid = -1;
  const int rc = spawn_in_session(spec.argv, spec.env, &fa, pid);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + spec.argv[0] + ": " + std::strerror(rc));
  }
  return Spawned{pid, open_pidfd(pid)};
}

std::optional<int> try_reap(int pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return pid_alive(pid) ? std::nullopt : std::optional<int>(0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return std::nullopt;
}

bool pid_alive(int pid) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) == 0) {
    // A zombie (of someone else) is not running: check /proc state.
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (std::getline(st, line)) {
      auto rp = line.rfind(')');
      if (rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z') return false;
    }
    return true;
  }
  return errno == EPERM;
}

namespace {

bool wait_gone(int pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    (void)try_reap(pid);
    if (!pid_alive(pid)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

bool terminate(int pid, std::chrono::milliseconds grace, std::chrono::milliseconds kill_wait) {
  if (!pid_alive(pid)) {
    (void)try_reap(pid);
    return true;
  }
  ::kill(pid, SIGTERM);
  if (wait_gone(pid, grace)) return true;
  ::kill(pid, SIGKILL);
  return wait_gone(pid, kill_wait);
}

std::string tail_file(const std::filesystem::path& path, std::size_t lines) {
  std::ifstream in(path);
  if (!in) return "";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

std::filesystem::path self_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

std::string describe_exit(int code) {
  if (code >= 0) return "exited with status " + std::to_string(code);
  const char* name = sigabbrev_np(-code);
  return "killed by signal " + std::to_string(-code) +
         (name != nullptr ? std::string(" (SIG") + name + ")" : std::string());
}

}  // namespace ipp::cluster
