#pragma once
// Detaching `ipcluster start --daemonize` from the terminal.
//
// The classic double fork (fork, setsid, fork) must happen before any thread, zmq context,
// libssh session or asynchronous logger exists, because only the forking thread survives a
// fork. The original process does not exit at once: it waits on a pipe until the daemon reports
// that the cluster is up (or why it is not), prints that, and exits with the daemon's verdict,
// so `ipcluster start --daemonize` still fails visibly when the controller cannot start.
#include <filesystem>
#include <string>

namespace ipp::cluster {

// Held by the daemon; tells the waiting parent how the start went. Used once.
class DaemonNotifier {
 public:
  explicit DaemonNotifier(int fd = -1) : fd_(fd) {}
  bool active() const { return fd_ >= 0; }
  // The parent prints `message` to stderr and exits with `exit_code`.
  void report(int exit_code, const std::string& message);

 private:
  int fd_;
};

// Forks twice, starts a new session, points stdin at /dev/null and stdout/stderr at `log_file`
// (appending). Returns only in the daemon; the original process exits as described above.
DaemonNotifier daemonize(const std::filesystem::path& log_file);

// pid/ipcluster[-<id>].pid, as ipyparallel 6.x wrote it: the pid as decimal text.
void write_pid_file(const std::filesystem::path& path, int pid);
// The pid in a pid file, or -1.
int read_pid_file(const std::filesystem::path& path);

}  // namespace ipp::cluster
