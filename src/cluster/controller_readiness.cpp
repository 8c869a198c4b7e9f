#include <ipp/cluster/controller_readiness.hpp>

namespace ipp::cluster {

ControllerReadiness::ControllerReadiness(double timeout_s, double delay_s, TimePoint started)
    : timeout_s_(timeout_s), delay_(delay_s), started_(started) {}

ControllerReadiness::Step ControllerReadiness::on_tick(TimePoint now, bool files_present,
                                                       bool queued) {
  if (done_) return Step::Wait;
  if (queued) started_ = now;
  if (ready_) {
    if (now - started_ < delay_) return Step::Wait;
    done_ = true;
    return Step::StartEngines;
  }
  if (timeout_s_ >= 0 && now - started_ > std::chrono::duration<double>(timeout_s_)) {
    done_ = true;
    return Step::TimedOut;
  }
  if (files_present && (!asked_ || now - last_request_ >= std::chrono::seconds(1))) {
    asked_ = true;
    last_request_ = now;
    return Step::SendRequest;
  }
  return Step::Wait;
}

bool ControllerReadiness::on_reply(TimePoint) {
  if (ready_ || done_) return false;
  ready_ = true;
  return true;
}

}  // namespace ipp::cluster
