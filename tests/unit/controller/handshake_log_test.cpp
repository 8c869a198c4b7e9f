// HandshakeLog: monitor events of a bound socket -> warnings that name the peer and the cause.
#include "controller/service/handshake_log.hpp"

#include <gtest/gtest.h>

namespace ipp::controller::service {
namespace {

using net::SocketEvent;

const std::string kEp = "tcp://127.0.0.1:5555";
std::string peer_of(int fd) { return fd == 7 ? "10.0.0.2:40000" : ""; }

std::optional<std::string> run(HandshakeLog& log, std::initializer_list<SocketEvent> events,
                               bool* warning = nullptr) {
  std::optional<std::string> last;
  for (const auto& e : events) {
    auto w = log.on_event(e, peer_of);
    if (w) {
      last = w->text;
      if (warning != nullptr) *warning = w->warning;
    }
  }
  return last;
}

SocketEvent accepted(int fd) { return {ZMQ_EVENT_ACCEPTED, static_cast<std::uint32_t>(fd), kEp}; }
SocketEvent closed(int fd) { return {ZMQ_EVENT_DISCONNECTED, static_cast<std::uint32_t>(fd), kEp}; }
SocketEvent mismatch() {
  return {ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, kEp};
}

TEST(HandshakeLog, PlainPeerAgainstCurveController) {
  HandshakeLog log("registration", /*curve=*/true);
  auto w = run(log, {accepted(7), mismatch(), closed(7)});
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("Peer 10.0.0.2:40000"), std::string::npos) << *w;
  EXPECT_NE(w->find("registration port (" + kEp + ")"), std::string::npos) << *w;
  EXPECT_NE(w->find("without CurveZMQ"), std::string::npos) << *w;
  EXPECT_EQ(log.open_connections(), 0u);
}

TEST(HandshakeLog, CurvePeerAgainstPlainController) {
  HandshakeLog log("client task", /*curve=*/false);
  auto w = run(log, {accepted(7), mismatch(), closed(7)});
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("tried CurveZMQ"), std::string::npos) << *w;
}

TEST(HandshakeLog, WrongServerKey) {
  HandshakeLog log("registration", true);
  auto w =
      run(log, {accepted(7),
                {ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, kEp},
                closed(7)});
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("curve_serverkey is not this controller's public key"), std::string::npos);
}

TEST(HandshakeLog, ClosedMidHandshakeWarnsOnlyWithCurve) {
  SocketEvent closed_early{ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, kEp};
  bool warning = false;
  HandshakeLog curve("registration", true);
  auto w = run(curve, {accepted(7), closed_early, closed(7)}, &warning);
  ASSERT_TRUE(w);
  EXPECT_TRUE(warning);
  EXPECT_NE(w->find("does not use CurveZMQ, or its curve_serverkey"), std::string::npos) << *w;
  HandshakeLog plain("registration", false);
  ASSERT_TRUE(run(plain, {accepted(7), closed_early, closed(7)}, &warning));
  EXPECT_FALSE(warning);  // a port probe, as likely
}

TEST(HandshakeLog, NormalConnectionsSayNothing) {
  HandshakeLog log("registration", true);
  EXPECT_FALSE(run(log, {accepted(7), accepted(8), closed(8), closed(7)}));
  EXPECT_EQ(log.open_connections(), 0u);
}

TEST(HandshakeLog, UnknownPeerStillNamesThePort) {
  HandshakeLog log("registration", true);
  // the connection closed before its ACCEPTED was read: no address
  auto w = run(log, {accepted(9), mismatch(), closed(9)});
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("Peer at an unknown address"), std::string::npos) << *w;
}

}  // namespace
}  // namespace ipp::controller::service
