// The engine's shell and control handling without sockets or Python: a fake interpreter and a
// recording publisher stand in for the bridge and the IOPub thread.
#include <ipp/engine/kernel.hpp>
#include <ipp/wire/msg_types.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <set>

namespace ipp::engine {
namespace {

using wire::Json;

constexpr const char* kUuid = "aea4ef37-52ebf27d71ea72b0487e92d8";

struct Published {
  std::string topic, msg_type;
  Json content, parent, metadata;
  std::size_t buffers = 0;
};

class FakePublisher : public Publisher {
 public:
  void publish(std::string topic, std::string msg_type, Json content, Json parent_header,
               Json metadata, wire::Frames buffers) override {
    // as IopubPublisher: a null parent is the one set by set_parent
    if (parent_header.is_null()) parent_header = parent;
    out.push_back({std::move(topic), std::move(msg_type), std::move(content),
                   std::move(parent_header), std::move(metadata), buffers.size()});
  }
  void set_parent(const Json& p) override { parent = p; }
  void flush_streams_and_wait() override { ++flushes; }
  std::vector<std::string> statuses() const {
    std::vector<std::string> s;
    for (const auto& p : out) {
      if (p.msg_type == "status") s.push_back(p.content["execution_state"]);
    }
    return s;
  }
  std::vector<Published> out;
  Json parent;
  int flushes = 0;
};

class FakeInterpreter : public Interpreter {
 public:
  void start(int id) override { started = id; }
  std::vector<std::string> run_startup(const std::vector<std::string>&,
                                       const std::vector<std::string>&,
                                       const std::string&) override {
    return {};
  }
  ApplyOutcome apply(const std::string& msg_id, const wire::Frames& buffers) override {
    if (throw_in_apply) throw std::runtime_error("bridge broke");
    applied.push_back(msg_id);
    seen_buffers = buffers.size();
    ApplyOutcome out;
    out.content = apply_content;
    out.buffers.emplace_back(std::string_view("result-pickle"));
    if (apply_content["status"] != "ok") out.buffers.clear();
    return out;
  }
  Json execute(const Json& request) override {
    executed.push_back(request.value("code", std::string()));
    return execute_content;
  }
  void clear() override { ++cleared; }
  Json kernel_info() override { return Json{{"status", "ok"}, {"protocol_version", "5.3"}}; }

  Json apply_content = Json{{"status", "ok"}};
  Json execute_content = Json{{"status", "ok"},
                              {"execution_count", 1},
                              {"user_expressions", Json::object()},
                              {"payload", Json::array()}};
  std::vector<std::string> applied, executed;
  std::size_t seen_buffers = 0;
  int started = -1, cleared = 0;
  bool throw_in_apply = false;
};

class KernelTest : public ::testing::Test {
 protected:
  KernelTest()
      : session_(wire::SessionConfig{"key", "hmac-sha256", kUuid, "u"}),
        client_(wire::SessionConfig{"key", "hmac-sha256", "client-session", "u"}),
        ids_(kUuid),
        shell_(EngineIdentity{kUuid, 3}, interp_, pub_, aborts_, session_, ids_) {}

  wire::Message request(std::string_view type, Json content = Json::object(),
                        Json metadata = Json::object()) {
    wire::Message m = client_.make(type, std::move(content), Json::object(), std::move(metadata));
    m.identities = {"mux_out", std::string("\x00\xf4\xb0\xdc", 4)};
    return m;
  }

  std::vector<wire::Message> handle(wire::Message m, bool queued_abort = false) {
    std::vector<wire::Message> replies;
    shell_.handle(
        std::move(m), [&](wire::Message&& r) { replies.push_back(std::move(r)); }, queued_abort);
    return replies;
  }

  wire::Session session_;
  wire::Session client_;
  MsgIds ids_;
  FakeInterpreter interp_;
  FakePublisher pub_;
  AbortSet aborts_;
  ShellHandler shell_;
};

TEST_F(KernelTest, ApplyRepliesWithMetadataAndBuffers) {
  auto req = request(wire::msg::kApplyRequest, Json::object(),
                     Json{{"is_broadcast", true}, {"original_msg_id", "orig"}, {"label", "L"}});
  req.buffers.emplace_back(std::string_view("f"));
  req.buffers.emplace_back(std::string_view("info"));
  Json header = req.header;
  auto replies = handle(std::move(req));
  ASSERT_EQ(replies.size(), 1u);
  const auto& r = replies[0];
  EXPECT_EQ(r.msg_type(), "apply_reply");
  EXPECT_EQ(r.header["session"], kUuid);
  EXPECT_EQ(r.parent_header, header);
  EXPECT_EQ(r.identities,
            (std::vector<std::string>{"mux_out", std::string("\x00\xf4\xb0\xdc", 4)}));
  EXPECT_EQ(r.content, (Json{{"status", "ok"}}));
  ASSERT_EQ(r.buffers.size(), 1u);
  EXPECT_EQ(interp_.seen_buffers, 2u);
  EXPECT_EQ(r.metadata["engine"], kUuid);
  EXPECT_EQ(r.metadata["status"], "ok");
  EXPECT_EQ(r.metadata["dependencies_met"], true);
  EXPECT_EQ(r.metadata["is_broadcast"], true);
  EXPECT_EQ(r.metadata["is_coalescing"], false);
  EXPECT_EQ(r.metadata["original_msg_id"], "orig");
  EXPECT_EQ(r.metadata["label"], "L");
  EXPECT_TRUE(r.metadata["started"].is_string());
  EXPECT_FALSE(r.metadata.contains("engine_info"));
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy", "idle"}));
  EXPECT_EQ(pub_.out[0].topic, "engine.3.status");
  EXPECT_EQ(pub_.out[0].parent, header);
  EXPECT_EQ(pub_.out[0].metadata, (Json{{"engine", kUuid}}));
  EXPECT_EQ(pub_.parent, header);
  EXPECT_EQ(pub_.flushes, 1);
}

TEST_F(KernelTest, UnmetDependencyClearsDependenciesMet) {
  interp_.apply_content = Json{{"status", "error"},
                               {"ename", "UnmetDependency"},
                               {"evalue", ""},
                               {"traceback", Json::array()}};
  auto replies = handle(request(wire::msg::kApplyRequest));
  ASSERT_EQ(replies.size(), 1u);
  const auto& md = replies[0].metadata;
  EXPECT_EQ(md["status"], "error");
  EXPECT_EQ(md["dependencies_met"], false);
  EXPECT_EQ(md["engine_info"], (Json{{"engine_uuid", kUuid}, {"engine_id", 3}}));
  EXPECT_TRUE(replies[0].buffers.empty());
}

TEST_F(KernelTest, BridgeFailureBecomesErrorReply) {
  interp_.throw_in_apply = true;
  auto replies = handle(request(wire::msg::kApplyRequest));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].content["status"], "error");
  EXPECT_EQ(replies[0].content["ename"], "EngineError");
  EXPECT_EQ(replies[0].content["engine_info"]["method"], "apply");
  EXPECT_EQ(replies[0].metadata["status"], "error");
}

TEST_F(KernelTest, AbortedByIdGetsAbortedReplyAndNoIdle) {
  auto req = request(wire::msg::kApplyRequest);
  aborts_.add({req.msg_id()});
  auto replies = handle(std::move(req));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "apply_reply");
  EXPECT_EQ(replies[0].content, (Json{{"status", "aborted"}}));
  EXPECT_EQ(replies[0].metadata["status"], "aborted");
  EXPECT_TRUE(interp_.applied.empty());
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy"}));
  EXPECT_EQ(aborts_.size(), 0u);
}

TEST_F(KernelTest, QueuedAbortOnlyHitsExecuteRequests) {
  auto replies = handle(request(wire::msg::kExecuteRequest, Json{{"code", "1"}, {"silent", false}}),
                        /*queued_abort=*/true);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "execute_reply");
  EXPECT_EQ(replies[0].content["status"], "aborted");
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy", "idle"}));
  replies = handle(request(wire::msg::kApplyRequest), /*queued_abort=*/true);
  EXPECT_EQ(replies[0].content["status"], "ok");
}

TEST_F(KernelTest, ExecuteErrorRequestsStopOnError) {
  interp_.execute_content = Json{{"status", "error"},
                                 {"ename", "ValueError"},
                                 {"evalue", "x"},
                                 {"traceback", Json::array()},
                                 {"execution_count", 1}};
  handle(request(wire::msg::kExecuteRequest, Json{{"code", "raise"}, {"silent", true}}));
  EXPECT_FALSE(shell_.take_stop_on_error());  // silent requests do not
  handle(request(wire::msg::kExecuteRequest, Json{{"code", "raise"}, {"silent", false}}));
  EXPECT_TRUE(shell_.take_stop_on_error());
  EXPECT_FALSE(shell_.take_stop_on_error());
  handle(request(wire::msg::kExecuteRequest,
                 Json{{"code", "raise"}, {"silent", false}, {"stop_on_error", false}}));
  EXPECT_FALSE(shell_.take_stop_on_error());
}

TEST_F(KernelTest, UnknownShellRequestGetsAnErrorReplyOtherKindsNone) {
  auto replies = handle(request("comm_msg"));  // not a request: nothing to answer
  EXPECT_TRUE(replies.empty());
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy", "idle"}));
  replies = handle(request(std::string("bogus\n\x01_request")));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "bogus\n\x01_reply");
  EXPECT_EQ(replies[0].content["status"], "error");
  EXPECT_EQ(replies[0].content["ename"], "ValueError");
  EXPECT_EQ(replies[0].content["evalue"], "Unknown message type: 'bogus\\n\\x01_request'");
  EXPECT_EQ(replies[0].metadata["status"], "error");
}

TEST_F(KernelTest, KernelInfoOnShell) {
  auto replies = handle(request(wire::msg::kKernelInfoRequest));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "kernel_info_reply");
  EXPECT_EQ(replies[0].content["protocol_version"], "5.3");
}

// ---------------------------------------------------------------------------- control
class FakeActions : public ControlActions {
 public:
  void clear_namespace(std::function<void()> done) override { pending_clear = std::move(done); }
  Json kernel_info() override { return Json{{"status", "ok"}}; }
  void send_signal(int signo) override { signals.push_back(signo); }
  void shutdown() override { ++shutdowns; }
  std::function<void()> pending_clear;
  std::vector<int> signals;
  int shutdowns = 0;
};

class ControlTest : public KernelTest {
 protected:
  ControlTest() : control_(EngineIdentity{kUuid, 3}, pub_, aborts_, actions_, session_, ids_) {}
  std::vector<wire::Message> control(wire::Message m) {
    std::vector<wire::Message> replies;
    control_.handle(std::move(m), [&](wire::Message&& r) { replies.push_back(std::move(r)); });
    return replies;
  }
  FakeActions actions_;
  ControlHandler control_;
};

TEST_F(ControlTest, AbortRequestRecordsIds) {
  auto replies = control(request(wire::msg::kAbortRequest, Json{{"msg_ids", {"a", "b"}}}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "abort_reply");
  EXPECT_EQ(replies[0].content, (Json{{"status", "ok"}}));
  EXPECT_TRUE(aborts_.take("a"));
  EXPECT_TRUE(aborts_.take("b"));
  EXPECT_FALSE(aborts_.take("a"));
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy", "idle"}));
  EXPECT_FALSE(aborts_.take_abort_queued());
  control(request(wire::msg::kAbortRequest, Json{{"msg_ids", Json::array()}}));
  EXPECT_TRUE(aborts_.take_abort_queued());
}

TEST_F(ControlTest, ClearRepliesWhenTheMainThreadIsDone) {
  std::vector<wire::Message> replies;
  control_.handle(request(wire::msg::kClearRequest),
                  [&](wire::Message&& r) { replies.push_back(std::move(r)); });
  EXPECT_TRUE(replies.empty());
  ASSERT_TRUE(actions_.pending_clear);
  actions_.pending_clear();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "clear_reply");
  EXPECT_EQ(pub_.statuses(), (std::vector<std::string>{"busy", "idle"}));
}

TEST_F(ControlTest, ShutdownRepliesPublishesAndStops) {
  auto req = request(wire::msg::kShutdownRequest, Json{{"restart", false}});
  Json header = req.header;
  auto replies = control(std::move(req));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "shutdown_reply");
  EXPECT_EQ(replies[0].content, (Json{{"status", "ok"}, {"restart", false}}));
  EXPECT_EQ(actions_.shutdowns, 1);
  bool seen = false;
  for (const auto& p : pub_.out) {
    if (p.msg_type == "shutdown_reply") {
      seen = true;
      EXPECT_EQ(p.topic, "engine.3.shutdown");
      EXPECT_EQ(p.metadata, Json::object());
      EXPECT_EQ(p.parent, header);
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(ControlTest, SignalRequestAnsweredLikeTheNanny) {
  auto replies = control(request(wire::msg::kSignalRequest, Json{{"sig", "SIGINT"}}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "_request");
  EXPECT_EQ(replies[0].content, (Json{{"status", "ok"}}));
  EXPECT_EQ(replies[0].metadata, Json::object());
  EXPECT_EQ(actions_.signals, (std::vector<int>{SIGINT}));
  EXPECT_TRUE(pub_.statuses().empty());  // the nanny publishes nothing
  replies = control(request(wire::msg::kSignalRequest, Json{{"sig", 15}}));
  EXPECT_EQ(actions_.signals.back(), SIGTERM);
  replies = control(request(wire::msg::kSignalRequest, Json{{"sig", "SIGNOPE"}}));
  EXPECT_EQ(replies[0].content["status"], "error");
  EXPECT_EQ(replies[0].content["ename"], "AttributeError");
  EXPECT_EQ(actions_.signals.size(), 2u);
}

TEST_F(ControlTest, KernelInfoAndUnknown) {
  auto replies = control(request(wire::msg::kKernelInfoRequest));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "kernel_info_reply");
  replies = control(request("debug_request"));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].msg_type(), "debug_reply");
  EXPECT_EQ(replies[0].content["ename"], "ValueError");
  EXPECT_TRUE(control(request("comm_msg")).empty());
}

// -------------------------------------------------------------------------- helpers
TEST(KernelHelpers, ReplyType) {
  EXPECT_EQ(reply_type("apply_request"), "apply_reply");
  EXPECT_EQ(reply_type("kernel_info_request"), "kernel_info_reply");
  EXPECT_EQ(reply_type("odd"), "odd_reply");
}

TEST(KernelHelpers, ParseSignal) {
  std::string ename, evalue;
  EXPECT_EQ(parse_signal(Json(2), &ename, &evalue), SIGINT);
  EXPECT_EQ(parse_signal(Json("SIGTERM"), &ename, &evalue), SIGTERM);
  EXPECT_EQ(parse_signal(Json(0), &ename, &evalue), -1);
  EXPECT_EQ(ename, "ValueError");
  EXPECT_EQ(parse_signal(Json(nullptr), &ename, &evalue), -1);
  EXPECT_EQ(parse_signal(Json("INT"), &ename, &evalue), -1);
  EXPECT_EQ(ename, "AttributeError");
}

TEST(KernelHelpers, MsgIdsAreUniqueAcrossSessions) {
  MsgIds ids(kUuid);
  wire::Session a(wire::SessionConfig{"k", "hmac-sha256", kUuid, ""});
  wire::Session b(wire::SessionConfig{"k", "hmac-sha256", kUuid, ""});
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    seen.insert(make_message(a, ids, "status", Json::object(), Json::object()).msg_id());
    seen.insert(make_message(b, ids, "status", Json::object(), Json::object()).msg_id());
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(seen.begin()->rfind(std::string(kUuid) + "_", 0), 0u);
}

TEST(KernelHelpers, InitMetadataDefaults) {
  Json md = init_metadata(Json::object(), kUuid, "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(md["is_broadcast"], false);
  EXPECT_EQ(md["is_coalescing"], false);
  EXPECT_EQ(md["original_msg_id"], "");
  EXPECT_TRUE(md["label"].is_null());
  EXPECT_EQ(md["engine"], kUuid);
  Json md2 = init_metadata(Json(nullptr), kUuid, "t");
  EXPECT_EQ(md2["dependencies_met"], true);
}

}  // namespace
}  // namespace ipp::engine
