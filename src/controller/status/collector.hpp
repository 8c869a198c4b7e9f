#pragma once
// StatusCollector: gathers one StatusSnapshot from the controller's threads without locks. On
// the hub's thread it fills the hub's part and the process's figures, posts a question to each
// other thread's reactor, and merges their answers (posted back) as they arrive; the last one
// completes the snapshot. No thread waits for another: a busy thread only delays the answer.
#include "status_snapshot.hpp"

#include <ipp/net/reactor.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ipp::controller::status {

class StatusCollector {
 public:
  using Fill = std::function<void(StatusSnapshot&)>;
  struct Part {
    net::Reactor* reactor;  // the thread that owns what `fill` reads
    Fill fill;
  };
  struct Identity {
    std::string cluster_id;
    std::string profile;
  };

  // `home`: the hub's reactor; `home_fill` runs there. Every reactor must outlive the
  // collector's last collect().
  StatusCollector(net::Reactor& home, Fill home_fill, std::vector<Part> parts, Identity identity);

  // Thread-safe. `done` runs on the hub's thread with the finished snapshot.
  void collect(std::function<void(StatusSnapshot)> done);
  // The adaptive section, as ipcluster last reported it (hub thread).
  void set_adaptive(wire::Json adaptive) { adaptive_ = std::move(adaptive); }

 private:
  void start(std::function<void(StatusSnapshot)> done);

  net::Reactor& home_;
  Fill home_fill_;
  std::vector<Part> parts_;
  Identity identity_;
  wire::Json adaptive_ = wire::Json{{"enabled", false}};
};

// The controller process's resident memory (bytes) and CPU time (seconds, user + system).
void read_process_figures(StatusSnapshot& out);

}  // namespace ipp::controller::status
