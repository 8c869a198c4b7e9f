// A signed message whose parts a client's Session cannot take in: the Session refuses it with
// the part named, leaves a RawMessage it could not parse intact (so the engine can answer it),
// and ForwardCheck refuses it without building JSON trees.
#include <ipp/wire/forward_check.hpp>
#include <ipp/wire/msg_types.hpp>
#include <ipp/wire/session.hpp>

#include <gtest/gtest.h>

namespace ipp::wire {
namespace {

const SessionConfig kConfig{"secret-key", "hmac-sha256", "s", "u"};

Frames signed_frames(std::string header, std::string parent, std::string md, std::string content) {
  Session s(kConfig);
  std::string sig = s.signer().sign({header, parent, md, content});
  Frames f;
  f.push_back(frame("client"));
  f.push_back(frame(kDelimiter));
  f.push_back(frame(sig));
  for (auto* part : {&header, &parent, &md, &content}) f.push_back(frame(*part));
  return f;
}

const std::string kHeader =
    R"({"msg_id":"m1","msg_type":"apply_request","session":"s","username":"u","date":"2026-12-04T07:00:00Z","version":"5.3"})";

TEST(ForwardCheck, AcceptsAGoodMessage) {
  Frames f = signed_frames(kHeader, R"({"msg_id":"p"})", "{}", R"({"status":"ok"})");
  ForwardCheck check;
  auto env = Session::envelope(f);
  ASSERT_TRUE(env.ok());
  EXPECT_TRUE(check.run(f, *env).ok());
  Session receiver(kConfig);
  EXPECT_TRUE(receiver.deserialize(std::move(f)).ok());
}

TEST(ForwardCheck, RefusesTextFieldsOfOtherTypesAndPartsThatAreNotObjects) {
  struct Case {
    std::string header, parent, md, content, detail;
  };
  const std::string p = "{}", o = "{}";
  const Case cases[] = {
      {R"({"msg_id":7,"msg_type":"apply_request"})", p, o, o, "header.msg_id"},
      {R"({"msg_id":"m","msg_type":null})", p, o, o, "header.msg_type"},
      {R"({"msg_id":"m","session":["x"]})", p, o, o, "header"},
      {R"({"msg_id":"m","date":{}})", p, o, o, "header.date"},
      {kHeader, R"({"msg_id":3.5})", o, o, "parent_header.msg_id"},
      {kHeader, p, "[1]", o, "metadata"},
      {kHeader, p, o, "{not json", "content"},
  };
  for (const auto& c : cases) {
    Frames f = signed_frames(c.header, c.parent, c.md, c.content);
    ForwardCheck check;
    auto env = Session::envelope(f);
    ASSERT_TRUE(env.ok());
    auto r = check.run(f, *env);
    ASSERT_FALSE(r.ok()) << c.detail;
    EXPECT_EQ(r.error().detail, c.detail);
    Session receiver(kConfig);
    auto d = receiver.deserialize(std::move(f));
    ASSERT_FALSE(d.ok()) << c.detail;
    // the Session names the same part (a nested text field by its name)
    EXPECT_EQ(d.error().detail.substr(0, c.detail.size()), c.detail) << d.error().what();
  }
}

TEST(SessionParse, LeavesTheRawMessageIntactWhenAPartDoesNotDecode) {
  Session receiver(kConfig);
  auto raw = receiver.authenticate(signed_frames(kHeader, "{}", "{}", "{not json"));
  ASSERT_TRUE(raw.ok());
  auto parsed = receiver.parse(std::move(*raw));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().kind, DecodeErrorKind::InvalidJson);
  EXPECT_EQ(parsed.error().detail, "content");
  // what the engine needs for its error reply is still there
  EXPECT_EQ(raw->header.value("msg_id", ""), "m1");
  EXPECT_EQ(raw->identity_count(), 1u);
  EXPECT_EQ(raw->identity(0), "client");
}

}  // namespace
}  // namespace ipp::wire
