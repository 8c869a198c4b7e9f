#pragma once
// ControllerReadiness: the sans-I/O part of `ipcluster start` between starting the controller
// and starting the engines. Fed clock ticks (with whether the connection files exist and whether
// a batch controller still waits in its queue) and the controller's replies, it says when to ask
// the controller again, when to start the engines (`Cluster.delay` after the controller started,
// once it answered) and when to give up (`connection_info_timeout`; negative waits forever, as
// in Python). The clock does not run while the controller's job is queued.
//
// Owned by the ipcluster main thread; lives from the controller's start to the engines' start.
#include <ipp/util/clock.hpp>

#include <chrono>

namespace ipp::cluster {

class ControllerReadiness {
 public:
  enum class Step {
    Wait,
    SendRequest,   // send a connection_request to the registration port
    StartEngines,  // ready, and the delay has passed: once
    TimedOut,      // not ready within the timeout: once
  };

  ControllerReadiness(double timeout_s, double delay_s, TimePoint started);

  Step on_tick(TimePoint now, bool files_present, bool queued);
  // A connection_reply arrived. True the first time: the controller became ready.
  bool on_reply(TimePoint now);
  // The client file changed (a new controller wrote it): ask at once.
  void on_new_client_file() { asked_ = false; }

  bool ready() const { return ready_; }
  bool done() const { return done_; }
  double timeout_s() const { return timeout_s_; }

 private:
  double timeout_s_;
  std::chrono::duration<double> delay_;
  TimePoint started_;
  TimePoint last_request_{};
  bool asked_ = false;
  bool ready_ = false;
  bool done_ = false;
};

}  // namespace ipp::cluster
