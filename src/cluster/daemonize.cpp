#include <ipp/cluster/daemonize.hpp>
#include <ipp/config/connection_info.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ipp::cluster {

void DaemonNotifier::report(int exit_code, const std::string& message) {
  if (fd_ < 0) return;
  std::string msg = std::to_string(exit_code) + "\n" + message;
  const char* p = msg.data();
  std::size_t left = msg.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd_);
  fd_ = -1;
}

DaemonNotifier daemonize(const std::filesystem::path& log_file) {
  std::fflush(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t first = ::fork();
  if (first < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (first > 0) {
    // The original process: wait for the daemon's verdict.
    ::close(fds[1]);
    std::string text;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    ::waitpid(first, &status, 0);  // the intermediate child exits at once
    if (text.empty()) {
      std::fprintf(stderr, "ipcluster: the daemon exited before the cluster started; see %s\n",
                   log_file.c_str());
      std::_Exit(1);
    }
    auto nl = text.find('\n');
    int code = std::atoi(text.substr(0, nl).c_str());
    std::string message = nl == std::string::npos ? "" : text.substr(nl + 1);
    if (!message.empty()) std::fprintf(stderr, "%s\n", message.c_str());
    std::_Exit(code);
  }
  ::close(fds[0]);
  if (::setsid() < 0) std::_Exit(1);
  pid_t second = ::fork();
  if (second < 0) std::_Exit(1);
  if (second > 0) std::_Exit(0);  // the session leader goes; the daemon can never get a tty
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    if (devnull > 2) ::close(devnull);
  }
  int out = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out >= 0) {
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (out > 2) ::close(out);
  }
  ::umask(022);
  return DaemonNotifier(fds[1]);
}

void write_pid_file(const std::filesystem::path& path, int pid) {
  ipp::config::write_file_atomic(
      path, std::to_string(pid) + "\n",
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

int read_pid_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  int pid = -1;
  if (in >> pid) return pid;
  return -1;
}

}  // namespace ipp::cluster
