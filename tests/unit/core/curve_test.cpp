// CurveZMQ key helpers and socket-monitor event decoding.
#include <ipp/net/curve.hpp>
#include <ipp/net/socket_events.hpp>

#include <gtest/gtest.h>

#include <cstring>

namespace ipp::net {
namespace {

// The key pair of the ZeroMQ CURVE test vectors (libzmq tests/testutil_security.hpp).
constexpr const char* kPublic = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* kSecret = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

TEST(Curve, AvailableInThisLibzmq) { EXPECT_TRUE(curve_available()); }

TEST(Curve, RecognisesZ85Keys) {
  EXPECT_TRUE(is_curve_key(kPublic));
  EXPECT_TRUE(is_curve_key(kSecret));
  EXPECT_FALSE(is_curve_key(""));
  EXPECT_FALSE(is_curve_key(std::string(kPublic).substr(1)));
  EXPECT_FALSE(is_curve_key(std::string(kPublic) + "0"));
  EXPECT_FALSE(is_curve_key("\"ne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"));  // '"' is not Z85
}

TEST(Curve, PublicKeyOfSecret) {
  EXPECT_EQ(curve_public_key_of(kSecret), std::string(kPublic));
  EXPECT_EQ(curve_public_key_of("short"), std::nullopt);
}

TEST(Curve, GeneratedPairsBelongTogether) {
  auto a = generate_curve_keypair();
  auto b = generate_curve_keypair();
  EXPECT_TRUE(is_curve_key(a.public_key));
  EXPECT_TRUE(is_curve_key(a.secret_key));
  EXPECT_EQ(curve_public_key_of(a.secret_key), a.public_key);
  EXPECT_NE(a.public_key, b.public_key);
}

TEST(Curve, ServerAndClientTalk) {
  zmq::context_t ctx;
  auto server_keys = generate_curve_keypair();
  zmq::socket_t server(ctx, zmq::socket_type::rep);
  set_curve_server(server, server_keys);
  server.bind("tcp://127.0.0.1:*");
  zmq::socket_t client(ctx, zmq::socket_type::req);
  set_curve_client(client, CurveClientKeys{server_keys.public_key, generate_curve_keypair()});
  client.connect(server.get(zmq::sockopt::last_endpoint));
  client.send(zmq::str_buffer("ping"), zmq::send_flags::none);
  zmq::message_t m;
  server.set(zmq::sockopt::rcvtimeo, 5000);
  ASSERT_TRUE(server.recv(m));
  EXPECT_EQ(m.to_string(), "ping");
  EXPECT_EQ(server.get(zmq::sockopt::mechanism), ZMQ_CURVE);
}

wire::Frames event_frames(std::uint16_t event, std::uint32_t value, const std::string& ep) {
  char head[6];
  std::memcpy(head, &event, 2);
  std::memcpy(head + 2, &value, 4);
  wire::Frames f;
  f.emplace_back(head, 6);
  f.emplace_back(ep.data(), ep.size());
  return f;
}

TEST(SocketEvents, DecodesTwoFrameEvents) {
  auto e = decode_socket_event(event_frames(ZMQ_EVENT_ACCEPTED, 17, "tcp://127.0.0.1:5555"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->event, ZMQ_EVENT_ACCEPTED);
  EXPECT_EQ(e->value, 17u);
  EXPECT_EQ(e->endpoint, "tcp://127.0.0.1:5555");
  wire::Frames one;
  one.emplace_back("abcdef", 6);
  EXPECT_FALSE(decode_socket_event(one));
}

TEST(SocketEvents, ClassifiesHandshakeFailures) {
  SocketEvent mismatch{ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                       ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, ""};
  SocketEvent crypto{ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC,
                     ""};
  SocketEvent closed{ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, EPIPE, ""};
  SocketEvent accepted{ZMQ_EVENT_ACCEPTED, 3, ""};
  EXPECT_TRUE(is_mechanism_mismatch(mismatch));
  EXPECT_FALSE(is_mechanism_mismatch(crypto));
  EXPECT_TRUE(is_curve_cryptographic_error(crypto));
  EXPECT_TRUE(is_handshake_failure(closed));
  EXPECT_FALSE(is_handshake_failure(accepted));
  EXPECT_EQ(describe_handshake_failure(mismatch), "ZMTP security mechanism mismatch");
  EXPECT_NE(describe_handshake_failure(closed).find("Broken pipe"), std::string::npos);
}

}  // namespace
}  // namespace ipp::net
