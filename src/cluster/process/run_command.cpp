#include <ipp/cluster/process.hpp>

#include "spawn_session.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace ipp::cluster {

namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  bool open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    close_end(0);
    close_end(1);
  }
};

std::optional<int> decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return std::nullopt;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env, const std::string& input,
                          std::chrono::milliseconds timeout) {
  CommandResult r;
  if (argv.empty() || argv[0].empty()) {
    r.exit_code = -1000;
    r.err = "empty command";
    return r;
  }
  Pipe in, out, err;
  if (!in.open() || !out.open() || !err.open()) {
    r.exit_code = -1000;
    r.err = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  pid_t pid = -1;
  const int rc = spawn_in_session(argv, env, &fa, pid);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.exit_code = -1000;
    r.err = std::strerror(rc);
    return r;
  }
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  // Feed stdin (small: a batch script), then close it.
  std::size_t written = 0;
  ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool exited = false;
  int status = 0;
  std::array<char, 4096> buf{};
  for (;;) {
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    std::vector<pollfd> fds;
    if (in.fd[1] >= 0) {
      if (written >= input.size()) {
        in.close_end(1);
      } else {
        fds.push_back({in.fd[1], POLLOUT, 0});
      }
    }
    if (out.fd[0] >= 0) fds.push_back({out.fd[0], POLLIN, 0});
    if (err.fd[0] >= 0) fds.push_back({err.fd[0], POLLIN, 0});
    if (fds.empty() && exited) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      if (!exited) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        r.timed_out = true;
      }
      break;
    }
    // Once the command has exited, give its pipes a moment to drain, no more: a background
    // child it started may hold them open for as long as it runs.
    int wait_ms = exited ? 50 : 20;
    int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n == 0 && exited) break;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      if (p.fd == in.fd[1]) {
        ssize_t w = ::write(in.fd[1], input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) in.close_end(1);
        continue;
      }
      ssize_t got = ::read(p.fd, buf.data(), buf.size());
      const bool is_out = p.fd == out.fd[0];
      if (got > 0) {
        (is_out ? r.out : r.err).append(buf.data(), static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EAGAIN) {
        (is_out ? out : err).close_end(0);
      }
    }
  }
  r.exit_code = decode(status).value_or(-1);
  return r;
}

}  // namespace ipp::cluster
