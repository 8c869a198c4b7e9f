#pragma once
// One local child process of a launcher (an engine, an mpiexec, a controller): started in its
// own session with its output appended to a file, checked without blocking, stopped with SIGTERM
// then SIGKILL, its whole process group included (mpiexec's ranks, a shell's children).
#include <ipp/cluster/process.hpp>

#include <optional>
#include <string>

namespace ipp::cluster {

class LocalChild {
 public:
  LocalChild() = default;
  LocalChild(const LocalChild&) = delete;
  LocalChild& operator=(const LocalChild&) = delete;
  LocalChild(LocalChild&& other) noexcept;
  LocalChild& operator=(LocalChild&& other) noexcept;
  ~LocalChild();

  // Throws std::runtime_error naming the program when it cannot be started.
  void start(const SpawnSpec& spec);
  // The exit code (as try_reap) once, when the process has gone; nullopt while it runs.
  std::optional<int> check_exit();
  // SIGTERM, then SIGKILL after `grace`; the process group goes with it. True when gone.
  bool stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  void signal(int signo) const;

  int pid() const { return pid_; }
  bool running() const { return running_; }
  std::optional<int> exit_code() const { return exit_code_; }
  const std::string& output_file() const { return output_file_; }

 private:
  void close_pidfd();
  int pid_ = -1;
  int pidfd_ = -1;
  bool running_ = false;
  std::optional<int> exit_code_;
  std::string output_file_;
};

// "ipengine-<cluster id>-<set id>-<our pid>": Python's launcher identifier, the stem of default
// output file names. Empty parts are left out.
std::string launcher_identifier(const std::string& name, const std::string& cluster_id,
                                const std::string& set_id);

// "  " before every line.
std::string indent_text(const std::string& text);

}  // namespace ipp::cluster
