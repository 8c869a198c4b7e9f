// IopubPublisher against a real SUB socket (inproc): order of status and output, and where the
// signing and sending happen.
#include <ipp/engine/iopub.hpp>
#include <ipp/net/frames_io.hpp>
#include <ipp/wire/msg_types.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace ipp::engine {
namespace {

using wire::Json;

class IopubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sub_.set(zmq::sockopt::subscribe, "");
    sub_.set(zmq::sockopt::rcvtimeo, 5000);
    sub_.bind("inproc://iopub-test");
    IopubPublisher::Settings s;
    s.url = "inproc://iopub-test";
    s.session = wire::SessionConfig{"key", "hmac-sha256", "engine-uuid", "user"};
    s.engine = EngineIdentity{"engine-uuid", 3};
    s.flush_interval = std::chrono::milliseconds(50);
    s.min_interval = std::chrono::milliseconds(10);
    pub_ = std::make_unique<IopubPublisher>(ctx_, s, ids_);
    pub_->start();
    // a PUB drops what it sends before the subscription arrives: wait until one gets through
    sub_.set(zmq::sockopt::rcvtimeo, 50);
    for (int i = 0; i < 100; ++i) {
      pub_->publish("engine.3.status", "status", Json{{"execution_state", "starting"}},
                    Json::object(), Json::object());
      zmq::message_t m;
      if (sub_.recv(m).has_value()) break;
    }
    drain();
  }
  void TearDown() override { pub_->stop(); }

  void drain() {
    sub_.set(zmq::sockopt::rcvtimeo, 100);
    zmq::message_t m;
    while (sub_.recv(m).has_value()) {
    }
    sub_.set(zmq::sockopt::rcvtimeo, 5000);
  }

  // The next message: [topic, msg_type, content].
  std::vector<std::string> next() {
    wire::Frames frames;
    if (!net::recv_frames(sub_, frames, /*dontwait=*/false)) return {};  // 5 s receive timeout
    auto m = session_.deserialize(std::move(frames));
    if (!m) return {"undecodable: " + m.error().what()};
    return {m->identities.empty() ? "" : m->identities[0], m->msg_type(), m->content.dump()};
  }

  zmq::context_t ctx_;
  zmq::socket_t sub_{ctx_, zmq::socket_type::sub};
  wire::Session session_{wire::SessionConfig{"key", "hmac-sha256", "client", "user"}};
  MsgIds ids_{"engine-uuid"};
  std::unique_ptr<IopubPublisher> pub_;
};

TEST_F(IopubTest, WithNothingQueuedAMessageIsSentOnTheCallersThread) {
  const auto before = pub_->sent();
  pub_->publish("engine.3.status", std::string(wire::msg::kStatus),
                Json{{"execution_state", "busy"}}, Json{{"msg_id", "r1"}}, Json::object());
  // counted before publish returns: no hand-over to the IOPub thread
  EXPECT_EQ(pub_->sent(), before + 1);
  auto m = next();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], "engine.3.status");
  EXPECT_EQ(m[1], "status");
  EXPECT_EQ(m[2], R"({"execution_state":"busy"})");
}

TEST_F(IopubTest, BufferedOutputStaysAheadOfALaterStatus) {
  pub_->set_parent(Json{{"msg_id", "r2"}});
  pub_->write_stream("stdout", "partial line, no newline");
  pub_->publish("engine.3.status", std::string(wire::msg::kStatus),
                Json{{"execution_state", "idle"}}, Json{{"msg_id", "r2"}}, Json::object());
  auto first = next();
  auto second = next();
  ASSERT_EQ(first.size(), 3u);
  ASSERT_EQ(second.size(), 3u);
  EXPECT_EQ(first[1], "stream");
  EXPECT_NE(first[2].find("partial line, no newline"), std::string::npos);
  EXPECT_EQ(second[1], "status");
}

TEST_F(IopubTest, ManyThreadsPublishingKeepEachThreadsOrder) {
  constexpr int kThreads = 4;
  constexpr int kEach = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kEach; ++i) {
        pub_->publish("engine.3.t" + std::to_string(t), "display_data", Json{{"i", i}},
                      Json::object(), Json::object());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int> last(kThreads, -1);
  for (int n = 0; n < kThreads * kEach; ++n) {
    auto m = next();
    ASSERT_EQ(m.size(), 3u) << "message " << n;
    const int t = m[0].back() - '0';
    const int i = Json::parse(m[2])["i"].get<int>();
    ASSERT_EQ(i, last[t] + 1) << "thread " << t;
    last[t] = i;
  }
}

}  // namespace
}  // namespace ipp::engine
