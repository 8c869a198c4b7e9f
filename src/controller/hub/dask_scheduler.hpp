#pragma once
// The hub's dask.distributed scheduler (Client.become_dask / stop_dask, protocol.md 5).
// Python's hub runs distributed.Scheduler inside the controller process; we run it in a Python
// child process that prints its address as one JSON line on stdout and stops on SIGTERM.
//
// Owning thread: the controller's main reactor.
#include <ipp/net/reactor.hpp>
#include <ipp/wire/session.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ipp::controller::hub {

class DaskScheduler {
 public:
  // Called with the become_dask_reply content ({"status": "ok", ip, address, port} or an error).
  using Reply = std::function<void(wire::Json content)>;

  explicit DaskScheduler(std::string default_host) : default_host_(std::move(default_host)) {}
  ~DaskScheduler() {
    reactor_ = nullptr;  // may already be gone
    stop();
  }
  DaskScheduler(const DaskScheduler&) = delete;
  DaskScheduler& operator=(const DaskScheduler&) = delete;

  // Starts the scheduler unless running; `reply` runs once its address is known (or it failed).
  void start(net::Reactor& reactor, const wire::Json& scheduler_args, Reply reply);
  // Stops a running scheduler; returns false if none was running.
  bool stop();

 private:
  void on_output();
  void finish(wire::Json content);

  std::string default_host_;
  net::Reactor* reactor_ = nullptr;
  int pid_ = -1;
  int out_fd_ = -1;
  int stdin_fd_ = -1;
  std::string buffer_;
  std::optional<wire::Json> info_;  // reply content once running
  std::vector<Reply> waiting_;
};

}  // namespace ipp::controller::hub
