#include "local_process.hpp"

#include <signal.h>
#include <unistd.h>

#include <utility>

namespace ipp::cluster {

LocalChild::LocalChild(LocalChild&& other) noexcept { *this = std::move(other); }

LocalChild& LocalChild::operator=(LocalChild&& other) noexcept {
  if (this != &other) {
    close_pidfd();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    running_ = std::exchange(other.running_, false);
    exit_code_ = other.exit_code_;
    output_file_ = std::move(other.output_file_);
  }
  return *this;
}

LocalChild::~LocalChild() { close_pidfd(); }

void LocalChild::close_pidfd() {
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

void LocalChild::start(const SpawnSpec& spec) {
  auto sp = spawn(spec);
  pid_ = sp.pid;
  pidfd_ = sp.pidfd;
  running_ = true;
  exit_code_.reset();
  output_file_ = spec.output_file.string();
}

std::optional<int> LocalChild::check_exit() {
  if (!running_) return std::nullopt;
  auto code = try_reap(pid_);
  if (!code && pid_alive(pid_)) return std::nullopt;
  running_ = false;
  exit_code_ = code.value_or(0);
  close_pidfd();
  // Whatever it left in its session (mpiexec's ranks) goes with it.
  ::kill(-pid_, SIGKILL);
  return exit_code_;
}

bool LocalChild::stop(std::chrono::milliseconds grace) {
  if (!running_) return true;
  const bool gone = terminate(pid_, grace);
  ::kill(-pid_, SIGKILL);
  running_ = !gone;
  if (gone) close_pidfd();
  return gone;
}

void LocalChild::signal(int signo) const {
  if (running_) ::kill(pid_, signo);
}

std::string launcher_identifier(const std::string& name, const std::string& cluster_id,
                                const std::string& set_id) {
  std::string id = name;
  if (!cluster_id.empty()) id += "-" + cluster_id;
  if (!set_id.empty()) id += "-" + set_id;
  return id + "-" + std::to_string(::getpid());
}

std::string indent_text(const std::string& text) {
  std::string out = "  ";
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n')) out.pop_back();
  return out + "\n";
}

}  // namespace ipp::cluster
