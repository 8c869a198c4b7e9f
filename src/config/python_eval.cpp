#include "python_eval.hpp"

#include "eval_config_py.hpp"
#include "ipp/config/error.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

extern char** environ;

namespace ipp::config::detail {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Owns one pipe end; closes it when it goes out of scope so no error path leaks a descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Owns posix_spawn's attribute objects for one spawn.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  SpawnSetup() { posix_spawn_file_actions_init(&actions); }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() { posix_spawn_file_actions_destroy(&actions); }
};

}  // namespace

ConfigTree evaluate_with_python(const std::filesystem::path& python,
                                const std::filesystem::path& file) {
  const std::string where = file.string();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw ConfigError(where + ": cannot evaluate with " + python.string() +
                      ": pipe: " + errno_text(errno));
  }
  Fd read_end(fds[0]);
  Fd write_end(fds[1]);

  // posix_spawn rather than fork(): the caller may already have threads. stdin is /dev/null so
  // a config file cannot wait on the terminal; stderr is inherited so its warnings and prints
  // reach the user as they would under the Python apps.
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), 1);

  std::string interpreter = python.string();
  std::string dash_c = "-c";
  std::string script = kEvalConfigPy;
  std::string target = file.string();
  char* argv[] = {interpreter.data(), dash_c.data(), script.data(), target.data(), nullptr};
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, interpreter.c_str(), &setup.actions, nullptr, argv, environ);
  if (rc != 0) {
    throw ConfigError(where + ": cannot run " + interpreter + " to evaluate it: " + errno_text(rc));
  }
  write_end.reset();

  std::string output;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n > 0) {
      output.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  // The result is the last line; anything before it would be noise from the interpreter.
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  const auto nl = output.rfind('\n');
  const std::string last = nl == std::string::npos ? output : output.substr(nl + 1);
  ConfigTree result = ConfigTree::parse(last, nullptr, false);
  if (result.is_object() && result.contains("config") && result["config"].is_object() &&
      WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return std::move(result["config"]);
  }
  if (result.is_object() && result.contains("error") && result["error"].is_object()) {
    const ConfigTree& err = result["error"];
    const std::string err_file = err.value("file", where);
    const int line = err.value("line", 0);
    std::string message = err_file;
    if (line > 0) message += ":" + std::to_string(line);
    message += ": " + err.value("message", std::string("evaluation failed"));
    if (std::filesystem::path(err_file) != std::filesystem::absolute(file)) {
      message += " (loaded from " + where + ")";
    }
    throw ConfigError(message);
  }
  std::string how = WIFEXITED(status)     ? "exit status " + std::to_string(WEXITSTATUS(status))
                    : WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                          : "unknown status";
  throw ConfigError(where + ": evaluating it with " + interpreter + " failed (" + how + ")");
}

}  // namespace ipp::config::detail
