#include "dask_scheduler.hpp"

#include <ipp/wire/errors.hpp>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ipp::controller::hub {

namespace {

// argv[1]: JSON keyword arguments for distributed.Scheduler. One JSON line on stdout: the
// become_dask_reply content. Runs until SIGTERM (or the controller's end closes stdin).
constexpr const char* kScript = R"PY(
import asyncio, json, signal, sys, traceback

def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

async def main():
    kwargs = json.loads(sys.argv[1])
    try:
        from distributed import Scheduler
        scheduler = Scheduler(**kwargs)
        await scheduler.start()
    except BaseException as e:
        emit({"status": "error", "ename": type(e).__name__, "evalue": str(e),
              "traceback": traceback.format_exception(type(e), e, e.__traceback__)})
        return
    emit({"status": "ok", "ip": scheduler.ip, "address": scheduler.address,
          "port": scheduler.port})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
    await stop.wait()
    await scheduler.close()

asyncio.run(main())
)PY";

std::string python_executable() {
  if (const char* p = std::getenv("IPP_PYTHON"); p != nullptr && *p != '\0') return p;
#ifdef IPP_PYTHON
  return IPP_PYTHON;
#else
  return "python3";
#endif
}

}  // namespace

void DaskScheduler::start(net::Reactor& reactor, const wire::Json& scheduler_args, Reply reply) {
  if (info_) {
    reply(*info_);
    return;
  }
  waiting_.push_back(std::move(reply));
  if (pid_ > 0) return;  // starting; the reply follows

  wire::Json kwargs = scheduler_args.is_object() ? scheduler_args : wire::Json::object();
  // Listen where the controller listens (Python's default would be every interface).
  if (!default_host_.empty() && !kwargs.contains("host") && !kwargs.contains("ip") &&
      !kwargs.contains("interface")) {
    kwargs["host"] = default_host_;
    if (!kwargs.contains("dashboard_address")) kwargs["dashboard_address"] = default_host_ + ":0";
  }
  const std::string python = python_executable();
  const std::string args = kwargs.dump();

  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    finish(wire::wrap_exception("OSError", "pipe failed"));
    return;
  }
  if (::pipe2(in, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    finish(wire::wrap_exception("OSError", "pipe failed"));
    return;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], in[0], in[1]}) ::close(fd);
    finish(wire::wrap_exception("OSError", "fork failed"));
    return;
  }
  if (pid == 0) {
    // The reactor blocks SIGINT/SIGTERM in this thread (signalfd); the child needs them back.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::execl(python.c_str(), python.c_str(), "-c", kScript, args.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  // keep our end of stdin open: the scheduler also stops when the controller goes away
  stdin_fd_ = in[1];
  pid_ = pid;
  out_fd_ = out[0];
  reactor_ = &reactor;
  reactor.add_fd(out_fd_, [this] { on_output(); });
}

void DaskScheduler::on_output() {
  char buf[4096];
  const ssize_t n = ::read(out_fd_, buf, sizeof buf);
  if (n > 0) {
    buffer_.append(buf, static_cast<std::size_t>(n));
    const auto nl = buffer_.find('\n');
    if (nl == std::string::npos || info_) return;
    wire::Json content = wire::Json::parse(buffer_.substr(0, nl), nullptr, false);
    buffer_.erase(0, nl + 1);
    if (content.is_discarded() || !content.is_object()) {
      content = wire::wrap_exception("RuntimeError", "dask scheduler: unreadable start-up reply");
    }
    if (content.value("status", std::string()) == "ok") {
      info_ = content;
      finish(std::move(content));
    } else {
      finish(std::move(content));
      stop();
    }
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  // EOF: the scheduler process ended
  const bool was_running = info_.has_value();
  stop();
  if (!was_running) {
    finish(wire::wrap_exception("RuntimeError",
                                "dask scheduler process exited (is distributed installed?)"));
  }
}

void DaskScheduler::finish(wire::Json content) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& reply : waiting) reply(content);
}

bool DaskScheduler::stop() {
  if (pid_ <= 0) return false;
  if (reactor_ != nullptr && out_fd_ >= 0) reactor_->remove_fd(out_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  out_fd_ = stdin_fd_ = -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 50; ++i) {  // up to 5 s for a clean close, then SIGKILL
    if (::waitpid(pid_, &status, WNOHANG) != 0) {
      pid_ = -1;
      break;
    }
    ::usleep(100 * 1000);
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  info_.reset();
  buffer_.clear();
  return true;
}

}  // namespace ipp::controller::hub
