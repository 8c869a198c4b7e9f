// Wire-level tests of the Session codec against jupyter_client's own Session: golden vectors
// made by Python are verified and parsed byte for byte, messages built here are decoded by Python,
// and every kind of tampering is rejected with its own error.
#include <ipp/util/ids.hpp>
#include <ipp/wire/msg_types.hpp>
#include <ipp/wire/session.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "test_support.hpp"

namespace ipp::wire {
namespace {

using test::base64_decode;
using test::base64_encode;

Frames frames_from(const nlohmann::json& list) {
  Frames out;
  for (const auto& f : list) out.push_back(frame(base64_decode(f.get<std::string>())));
  return out;
}

Frames copy_frames(const Frames& in) {
  Frames out;
  for (const auto& f : in) out.emplace_back(f.data(), f.size());
  return out;
}

const nlohmann::json& python_vectors() {
  static const nlohmann::json vectors = nlohmann::json::parse(test::run_command(
      std::string(test::kPython) + " " + IPP_TEST_TOOLS_DIR + "/gen_wire_vectors.py"));
  return vectors;
}

TEST(SessionGolden, VerifiesAndParsesEveryPythonMessage) {
  const auto& cases = python_vectors();
  ASSERT_GE(cases.size(), 25u);
  for (const auto& c : cases) {
    Session session(SessionConfig{c["key"], c["scheme"], "receiver", "u"});
    Frames frames = frames_from(c["frames"]);
    // Byte-exact: our signature over Python's JSON bytes equals the one Python sent.
    std::size_t d = c["identities"].size();
    if (!c["key"].get<std::string>().empty()) {
      EXPECT_EQ(session.signer().sign({view(frames[d + 2]), view(frames[d + 3]),
                                       view(frames[d + 4]), view(frames[d + 5])}),
                std::string(view(frames[d + 1])))
          << c["scheme"];
    }
    auto msg = session.deserialize(std::move(frames));
    ASSERT_TRUE(msg.ok()) << msg.error().what();
    EXPECT_EQ(msg->msg_id(), c["msg_id"]);
    EXPECT_EQ(msg->msg_type(), c["msg_type"]);
    EXPECT_EQ(msg->header["session"].get<std::string>(), c["session"].get<std::string>());
    EXPECT_EQ(msg->header["version"], "5.3");
    EXPECT_EQ(nlohmann::json::parse(msg->content.dump()), c["content"]);
    EXPECT_EQ(nlohmann::json::parse(msg->metadata.dump()), c["metadata"]);
    if (c["parent_msg_id"].is_null()) {
      EXPECT_TRUE(msg->parent_header.empty());
    } else {
      EXPECT_EQ(msg->parent_header["msg_id"].get<std::string>(), c["parent_msg_id"].get<std::string>());
    }
    ASSERT_EQ(msg->identities.size(), c["identities"].size());
    for (std::size_t i = 0; i < msg->identities.size(); ++i) {
      EXPECT_EQ(msg->identities[i], base64_decode(c["identities"][i].get<std::string>()));
    }
    ASSERT_EQ(msg->buffers.size(), c["buffers"].size());
    for (std::size_t i = 0; i < msg->buffers.size(); ++i) {
      EXPECT_EQ(std::string(view(msg->buffers[i])),
                base64_decode(c["buffers"][i].get<std::string>()));
    }
  }
}

TEST(SessionGolden, PythonAcceptsMessagesBuiltHere) {
  struct Spec {
    std::string key, scheme;
  };
  std::vector<Spec> specs = {{"40cf50c9-c2a1978fa457f86a9f60be94", "hmac-sha256"},
                             {"k2", "hmac-sha512"},
                             {"", "hmac-sha256"}};
  nlohmann::json cases = nlohmann::json::array();
  std::vector<std::string> ids;
  for (const auto& s : specs) {
    Session session(SessionConfig{s.key, s.scheme, "", ""});
    for (int with_buffers = 0; with_buffers < 2; ++with_buffers) {
      Json parent = session.make_header("execute_request");
      Message m = session.make(msg::kExecuteReply,
                               Json{{"status", "ok"}, {"text", "unicode ✓ 日本 \U0001F600"}},
                               parent, Json{{"engine", "e-1"}, {"started", "2026-01-01T00:00:00.000001Z"}});
      m.identities = {"mux_out", std::string("\x00\xf4\xb0", 3)};
      if (with_buffers) {
        m.buffers.push_back(frame(std::string("\x80\x04K*.", 5)));
        m.buffers.push_back(frame(std::string(5000, '\x01')));
      }
      ids.push_back(m.msg_id());
      Frames frames = session.serialize(std::move(m));
      nlohmann::json enc = nlohmann::json::array();
      for (const auto& f : frames) enc.push_back(base64_encode(view(f)));
      cases.push_back({{"key", s.key}, {"scheme", s.scheme}, {"frames", enc}});
    }
  }
  test::TempDir dir;
  auto path = dir.path() / "cases.json";
  std::ofstream(path) << cases.dump();
  auto out = nlohmann::json::parse(test::run_command(
      std::string(test::kPython) + " " + IPP_TEST_TOOLS_DIR + "/check_wire_vectors.py " +
      path.string()));
  ASSERT_EQ(out.size(), cases.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i]["ok"].get<bool>()) << out[i].dump();
    EXPECT_EQ(out[i]["header"]["msg_id"], ids[i]);
    EXPECT_EQ(out[i]["header"]["msg_type"], "execute_reply");
    EXPECT_EQ(out[i]["header"]["version"], "5.3");
    EXPECT_EQ(out[i]["content"]["text"], "unicode ✓ 日本 \U0001F600");
    EXPECT_EQ(out[i]["metadata"]["engine"], "e-1");
    EXPECT_EQ(out[i]["parent_header"]["msg_type"], "execute_request");
    EXPECT_EQ(out[i]["identities"].size(), 2u);
    EXPECT_EQ(out[i]["buffers"].size(), i % 2 == 1 ? 2u : 0u);
  }
}

// --- tampering -------------------------------------------------------------------------------

class SessionTamper : public ::testing::Test {
 protected:
  Frames good() {
    Session sender(SessionConfig{"secret-key", "hmac-sha256", "sender", "u"});
    Message m = sender.make(msg::kApplyRequest, Json::object(), Json::object(),
                            Json{{"targets", Json::array()}});
    m.identities = {"client"};
    m.buffers.push_back(frame("payload"));
    return sender.serialize(std::move(m));
  }
  DecodeErrorKind reject(Frames frames) {
    auto r = receiver_.deserialize(std::move(frames));
    EXPECT_FALSE(r.ok());
    return r.ok() ? DecodeErrorKind::NoDelimiter : r.error().kind;
  }
  Session receiver_{SessionConfig{"secret-key", "hmac-sha256", "receiver", "u"}};
};

TEST_F(SessionTamper, GoodMessageIsAccepted) {
  auto r = receiver_.deserialize(good());
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_EQ(r->identities, std::vector<std::string>{"client"});
  EXPECT_EQ(r->buffers.size(), 1u);
}

TEST_F(SessionTamper, ChangedByteInEverySignedFrameIsRejected) {
  for (std::size_t idx = 2; idx <= 6; ++idx) {  // client, DELIM, sig, header..content
    Frames f = good();
    std::string bytes(view(f[idx]));
    bytes[bytes.size() / 2] ^= 0x01;
    f[idx] = frame(bytes);
    EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::InvalidSignature) << "frame " << idx;
  }
}

TEST_F(SessionTamper, BuffersAreNotSigned) {
  Frames f = good();
  f.back() = frame("other payload");
  EXPECT_TRUE(receiver_.deserialize(std::move(f)).ok());
}

TEST_F(SessionTamper, TruncatedSignature) {
  Frames f = good();
  f[2] = frame(std::string(view(f[2])).substr(0, 63));
  EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::BadSignatureLength);
}

TEST_F(SessionTamper, EmptySignature) {
  Frames f = good();
  f[2] = frame("");
  EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::Unsigned);
}

TEST_F(SessionTamper, MissingDelimiter) {
  Frames f = good();
  f.erase(f.begin() + 1);
  EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::NoDelimiter);
}

TEST_F(SessionTamper, TooFewFrames) {
  Frames f = good();
  f.resize(6);  // client, DELIM, sig, header, parent, metadata
  EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::TooFewFrames);
  Frames empty;
  EXPECT_EQ(reject(std::move(empty)), DecodeErrorKind::NoDelimiter);
}

TEST_F(SessionTamper, Replay) {
  Frames f = good();
  Frames again = copy_frames(f);
  EXPECT_TRUE(receiver_.deserialize(std::move(f)).ok());
  EXPECT_EQ(reject(std::move(again)), DecodeErrorKind::DuplicateSignature);
}

TEST_F(SessionTamper, PeekingDoesNotRecordTheDigest) {
  Frames f = good();
  Frames again = copy_frames(f);
  EXPECT_TRUE(receiver_.authenticate(std::move(f), /*record_digest=*/false).ok());
  EXPECT_TRUE(receiver_.deserialize(std::move(again)).ok());
}

// Messages whose JSON is bad but correctly signed: the signature passes, parsing must not.
Frames signed_with(std::string header, std::string content) {
  Session s(SessionConfig{"secret-key", "hmac-sha256", "sender", "u"});
  return s.serialize_packed({}, std::move(header), "{}", "{}", std::move(content), {});
}

TEST_F(SessionTamper, InvalidUtf8) {
  EXPECT_EQ(reject(signed_with("{\"msg_type\": \"a\xff\"}", "{}")), DecodeErrorKind::InvalidUtf8);
  EXPECT_EQ(reject(signed_with("{}", "{\"x\": \"\xed\xa0\x80\"}")), DecodeErrorKind::InvalidUtf8);
}

TEST_F(SessionTamper, InvalidJson) {
  EXPECT_EQ(reject(signed_with("{\"msg_type\": ", "{}")), DecodeErrorKind::InvalidJson);
  EXPECT_EQ(reject(signed_with("{}", "{'single': 1}")), DecodeErrorKind::InvalidJson);
  EXPECT_EQ(reject(signed_with("[1, 2]", "{}")), DecodeErrorKind::NotAnObject);
}

TEST_F(SessionTamper, WrongKey) {
  Session other(SessionConfig{"another-key", "hmac-sha256", "x", "u"});
  auto f = other.serialize(other.make(msg::kConnectionRequest));
  EXPECT_EQ(reject(std::move(f)), DecodeErrorKind::InvalidSignature);
}

// --- peek_msg_type ---------------------------------------------------------------------------

Frames with_header(std::string header) {
  Frames f;
  f.push_back(frame("engine.0.status"));
  f.push_back(frame(kDelimiter));
  f.push_back(frame("sig"));
  f.push_back(frame(header));
  for (int i = 0; i < 3; ++i) f.push_back(frame("{}"));
  return f;
}

TEST(PeekMsgType, ReadsOursAndPythonsSpacing) {
  Session s(SessionConfig{"k", "hmac-sha256", "s", "u"});
  Message m = s.make(msg::kStatus, Json::object(), Json::object(), Json{{"execution_state", "idle"}});
  m.identities = {"engine.0.status"};
  EXPECT_EQ(peek_msg_type(s.serialize(std::move(m))), "status");
  EXPECT_EQ(peek_msg_type(with_header(R"({"msg_id": "a", "msg_type" :  "stream", "x": 1})")),
            "stream");
}

TEST(PeekMsgType, IgnoresLookalikesAndMalformedHeaders) {
  // a value "msg_type" is not the key; an escaped name is not taken at face value
  EXPECT_EQ(peek_msg_type(with_header(R"({"username": "msg_type", "msg_type": "error"})")),
            "error");
  EXPECT_EQ(peek_msg_type(with_header(R"({"msg_type": "sta\u0074us"})")), "");
  EXPECT_EQ(peek_msg_type(with_header(R"({"msg_type": 5})")), "");
  EXPECT_EQ(peek_msg_type(with_header(R"({"msg_type": "unterminated)")), "");
  EXPECT_EQ(peek_msg_type(with_header("not json")), "");
  Frames short_frames;
  short_frames.push_back(frame(kDelimiter));
  EXPECT_EQ(peek_msg_type(short_frames), "");
}

TEST(SessionUnsigned, EmptyKeySkipsChecksAndSendsEmptySignature) {
  Session s(SessionConfig{"", "hmac-sha256", "s", "u"});
  Frames f = s.serialize(s.make(msg::kConnectionRequest));
  EXPECT_EQ(view(f[1]), "");
  Frames again = copy_frames(f);
  EXPECT_TRUE(s.deserialize(std::move(f)).ok());
  EXPECT_TRUE(s.deserialize(std::move(again)).ok());  // no replay check without a key
}

TEST(SessionHeader, LooksLikeJupyterClient) {
  Session s(SessionConfig{"k", "hmac-sha256", "abcd-ef", "alice"});
  Json h1 = s.make_header("apply_request");
  Json h2 = s.make_header("apply_request");
  EXPECT_EQ(h1["msg_id"].get<std::string>().rfind("abcd-ef_", 0), 0u);
  EXPECT_NE(h1["msg_id"], h2["msg_id"]);
  EXPECT_EQ(h1["session"], "abcd-ef");
  EXPECT_EQ(h1["username"], "alice");
  EXPECT_EQ(h1["version"], "5.3");
  std::string date = h1["date"];
  ASSERT_EQ(date.size(), 27u);  // 2026-11-26T10:46:13.349259Z
  EXPECT_EQ(date.back(), 'Z');
  EXPECT_EQ(date[19], '.');
  // key order as jupyter_client writes it
  std::vector<std::string> keys;
  for (auto it = h1.begin(); it != h1.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"msg_id", "msg_type", "username", "session", "date",
                                            "version"}));
}

TEST(ReplayGuardTest, StaysBounded) {
  ReplayGuard g(100);
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(g.insert("d" + std::to_string(i)));
  EXPECT_LE(g.size(), 100u);
  EXPECT_FALSE(g.insert("d999"));  // the newest are kept
}

// --- frames another thread of the process has authenticated -------------------------------------

TEST_F(SessionTamper, ParseAuthenticatedUsesGivenPartsAndParsesTheRest) {
  Frames f = good();
  PreParsed pre;
  pre.header = Json{{"msg_id", "given"}};  // taken as is, not parsed from the frame
  auto r = Session::parse_authenticated(std::move(f), std::move(pre));
  ASSERT_TRUE(r.ok()) << r.error().what();
  EXPECT_EQ(r->msg_id(), "given");
  EXPECT_EQ(r->metadata, (Json{{"targets", Json::array()}}));  // parsed from the frame
  EXPECT_EQ(r->identities, std::vector<std::string>{"client"});
  ASSERT_EQ(r->buffers.size(), 1u);
  EXPECT_EQ(view(r->buffers[0]), "payload");
}

TEST_F(SessionTamper, ParseAuthenticatedMatchesDeserialize) {
  Frames f = good();
  auto full = receiver_.deserialize(copy_frames(f));
  auto fast = Session::parse_authenticated(std::move(f), PreParsed{});
  ASSERT_TRUE(full.ok() && fast.ok());
  EXPECT_EQ(full->header, fast->header);
  EXPECT_EQ(full->parent_header, fast->parent_header);
  EXPECT_EQ(full->metadata, fast->metadata);
  EXPECT_EQ(full->content, fast->content);
}

TEST_F(SessionTamper, ParseAuthenticatedStillRejectsBadJsonAndFraming) {
  Frames f = good();
  const std::size_t content = 1 + 5;  // identity, delimiter, signature, header, parent, metadata
  f[content] = frame("{not json");
  auto r = Session::parse_authenticated(std::move(f), PreParsed{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, DecodeErrorKind::InvalidJson);
  Frames g = good();
  g.erase(g.begin() + 1);  // the delimiter
  auto r2 = Session::parse_authenticated(std::move(g), PreParsed{});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().kind, DecodeErrorKind::NoDelimiter);
}

TEST(SignerTest, RepeatedSignaturesAreIndependent) {
  // The working HMAC context is reused: each signature must start from the keyed state.
  Signer s("k");
  const std::array<std::string_view, 4> a{"h", "p", "m", "c"};
  const std::array<std::string_view, 4> b{"x", "y", "z", "w"};
  const std::string first = s.sign(a);
  EXPECT_NE(s.sign(b), first);
  EXPECT_EQ(s.sign(a), first);
  EXPECT_EQ(Signer("k").sign(a), first);
  EXPECT_TRUE(s.verify(first, a));
  EXPECT_FALSE(s.verify(first, b));
}

TEST(SignerTest, UnknownSchemeIsRejected) {
  EXPECT_THROW(Signer("k", "hmac-nosuchdigest"), std::invalid_argument);
  EXPECT_THROW(Signer("k", "sha256"), std::invalid_argument);
}


TEST(SessionCheck, AgreesWithUnpackWithoutATree) {
  for (std::string_view ok : {R"({})", R"( {"a": [1, {"b": null}]} )", "\xEF\xBB\xBF{\"a\": 1}",
                              R"({"s": "caf\u00e9 \u2603"})"}) {
    EXPECT_TRUE(Session::check(ok)) << ok;
    EXPECT_TRUE(Session::unpack(ok)) << ok;
  }
  struct Bad {
    std::string_view text;
    DecodeErrorKind kind;
  };
  for (const Bad& b : {Bad{"[1, 2]", DecodeErrorKind::NotAnObject},
                       Bad{"\"text\"", DecodeErrorKind::NotAnObject},
                       Bad{"", DecodeErrorKind::InvalidJson},
                       Bad{R"({"a": 1,})", DecodeErrorKind::InvalidJson},
                       Bad{R"({"a": 1} trailing)", DecodeErrorKind::InvalidJson},
                       Bad{"{\"a\": \"\xff\"}", DecodeErrorKind::InvalidUtf8}}) {
    auto checked = Session::check(b.text);
    ASSERT_FALSE(checked) << b.text;
    EXPECT_EQ(checked.error().kind, b.kind) << b.text;
    auto unpacked = Session::unpack(b.text);
    ASSERT_FALSE(unpacked) << b.text;
    EXPECT_EQ(unpacked.error().kind, b.kind) << b.text;
  }
}

TEST(SessionEnvelope, FindsThePartsAfterTheIdentities) {
  Session s(SessionConfig{"k", "hmac-sha256", "s", "u"});
  Message m = s.make(msg::kApplyRequest, Json{{"c", 1}});
  m.identities = {"client", "engine"};
  m.buffers.push_back(frame("buf"));
  Frames frames = s.serialize(std::move(m));
  auto env = Session::envelope(frames);
  ASSERT_TRUE(env);
  EXPECT_EQ(env->delim, 2u);
  EXPECT_EQ(view(frames[env->content()]), R"({"c":1})");
  EXPECT_EQ(view(frames[env->first_buffer()]), "buf");
  frames.resize(5);
  auto short_env = Session::envelope(frames);
  ASSERT_FALSE(short_env);
  EXPECT_EQ(short_env.error().kind, DecodeErrorKind::TooFewFrames);
}


TEST(FieldScan, CapturesScalarsAndEmptyContainersOfTheTopObject) {
  FieldScan scan({"msg_id", "retries", "after", "timeout", "ok", "label", "missing", "big"});
  auto r = scan.run(R"({"msg_id": "m1", "inner": {"msg_id": "not this"}, "retries": 3,
      "after": [], "timeout": null, "ok": true, "label": "caf\u00e9", "big": 1e3})");
  ASSERT_TRUE(r);
  EXPECT_EQ(scan.string_or("msg_id"), "m1");
  EXPECT_EQ(*scan.find("retries"), 3);
  EXPECT_EQ(*scan.find("after"), Json::array());
  EXPECT_TRUE(scan.find("timeout")->is_null());
  EXPECT_EQ(*scan.find("ok"), true);
  EXPECT_EQ(scan.string_or("label"), "caf\xc3\xa9");
  EXPECT_DOUBLE_EQ(scan.find("big")->get<double>(), 1000.0);
  EXPECT_EQ(scan.find("missing"), nullptr);
  EXPECT_TRUE(scan.value_or_null("missing").is_null());
  EXPECT_EQ(scan.string_or("retries", "fallback"), "fallback");
  EXPECT_FALSE(scan.nested());
}

TEST(FieldScan, FlagsNonEmptyContainersAndLastKeyWins) {
  FieldScan scan({"after", "follow", "targets"});
  ASSERT_TRUE(scan.run(R"({"after": ["a", "b"], "follow": {}, "targets": 1, "targets": 2})"));
  EXPECT_TRUE(scan.nested());
  EXPECT_EQ(scan.find("after"), nullptr);
  EXPECT_EQ(*scan.find("follow"), Json::object());
  EXPECT_EQ(*scan.find("targets"), 2);  // as Json::parse keeps the last
  ASSERT_TRUE(scan.run(R"({"after": [[]], "follow": {"all": true}})"));
  EXPECT_TRUE(scan.nested());
  EXPECT_EQ(scan.find("after"), nullptr);
  EXPECT_EQ(scan.find("follow"), nullptr);
  // reused: the previous text is forgotten
  ASSERT_TRUE(scan.run(R"({"targets": []})"));
  EXPECT_FALSE(scan.nested());
  EXPECT_EQ(scan.find("after"), nullptr);
  EXPECT_EQ(*scan.find("targets"), Json::array());
}

TEST(FieldScan, RefusesWhatUnpackRefusesWithTheSameKind) {
  FieldScan scan({"a"});
  for (std::string_view text : {"[1, 2]", "\"a\"", "3", "", "[1, 2", R"({"a": 1,})",
                                R"({"a": 1} x)", "{\"a\": \"\xff\"}", "{\"a\": \"\xed\xa0\x80\"}",
                                "\xEF\xBB\xBF{\"a\": 1}", R"(  {"a": 1}  )"}) {
    auto scanned = scan.run(text);
    auto unpacked = Session::unpack(text);
    ASSERT_EQ(scanned.ok(), unpacked.ok()) << text;
    if (!unpacked) {
      EXPECT_EQ(scanned.error().kind, unpacked.error().kind) << text;
      EXPECT_EQ(scan.find("a"), nullptr) << text;
    } else {
      EXPECT_EQ(*scan.find("a"), (*unpacked)["a"]) << text;
    }
  }
}
// The scan checks text with its own code; unpack uses nlohmann's parser. Random edits of real
// message parts must get the same verdict (accepted, or refused with the same kind) and, when
// accepted, the same captured members as the parsed tree.
TEST(FieldScan, AgreesWithUnpackOnRandomEdits) {
  const std::vector<std::string> seeds = {
      R"({"msg_id":"a1_2_3","msg_type":"apply_request","username":"u","session":"s-1","date":"2026-11-27T01:02:03.456789Z","version":"5.3"})",
      R"({"after": [], "follow": [], "timeout": null, "targets": [], "retries": 0, "is_broadcast": false, "label": "x"})",
      R"({"after": ["a", "b"], "follow": {"all": true, "ids": ["c"]}, "targets": [1, 2], "retries": -3})",
      R"({"status": "ok", "dependencies_met": true, "engine": "e-\u00e9\ud83d\ude00", "started": "2026", "n": 1.5e10})",
      R"({"a": 0, "b": -0.0, "c": 12345678901234567890, "d": 1e308, "e": "\"\\\/\b\f\n\r\t", "f": [[], {}], "g": {}})",
      "{\"text\": \"unicode \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\", \"x\": [true, false, null]}",
      "\xEF\xBB\xBF {\"a\": 1}\n",
      "[1, {\"a\": 2}]",
      "\"just a string\"",
  };
  const std::string alphabet = "{}[]\":,\\ueE+-.0123456789tfnrl \t\n\x01\xc3\xa9\xed\xff";
  FieldScan scan({"msg_id", "after", "targets", "retries", "status", "engine", "a", "c", "e",
                  "f", "g", "n", "x", "label"});
  std::mt19937 rng(20261127);
  int accepted = 0, refused = 0;
  for (int round = 0; round < 60000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits && !text.empty(); ++k) {
      std::size_t at = rng() % (text.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 4) {
        case 0: text.insert(at, 1, c); break;
        case 1: if (at < text.size()) text.erase(at, 1); break;
        case 2: if (at < text.size()) text[at] = c; break;
        default: break;  // some seeds go through unchanged
      }
    }
    auto scanned = scan.run(text);
    auto unpacked = Session::unpack(text);
    ASSERT_EQ(scanned.ok(), unpacked.ok()) << text;
    if (!unpacked) {
      ASSERT_EQ(scanned.error().kind, unpacked.error().kind) << text;
      ++refused;
      continue;
    }
    ++accepted;
    for (const char* key : {"msg_id", "after", "targets", "status", "a", "e", "f", "g", "x"}) {
      const Json& tree = *unpacked;
      const Json* got = scan.find(key);
      if (!tree.contains(key)) {
        ASSERT_EQ(got, nullptr) << key << " in " << text;
        continue;
      }
      const Json& want = tree[key];
      if (want.is_structured() && !want.empty()) {
        ASSERT_EQ(got, nullptr) << key << " in " << text;
        ASSERT_TRUE(scan.nested()) << text;
      } else {
        ASSERT_NE(got, nullptr) << key << " in " << text;
        ASSERT_EQ(*got, want) << key << " in " << text;
      }
    }
  }
  // both verdicts were exercised plenty
  EXPECT_GT(accepted, 5000);
  EXPECT_GT(refused, 5000);
}

TEST(FieldScan, DeepNestingNeedsNoStack) {
  FieldScan scan({"a"});
  std::string deep = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  ASSERT_TRUE(scan.run(deep));
  EXPECT_TRUE(scan.nested());
  std::string open_only = "{\"a\": " + std::string(200000, '[') + "}";
  auto r = scan.run(open_only);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, DecodeErrorKind::InvalidJson);
}

TEST(FieldScan, RefusesNumbersTooLargeForADoubleAsUnpackDoes) {
  FieldScan scan({"n"});
  for (std::string text : {std::string(R"({"n": 1e400})"), std::string(R"({"n": -1e400})"),
                           "{\"n\": " + std::string(400, '9') + "}",
                           std::string(R"({"n": 1e-400})"),
                           std::string(R"({"n": 18446744073709551616})")}) {
    auto scanned = scan.run(text);
    auto unpacked = Session::unpack(text);
    ASSERT_EQ(scanned.ok(), unpacked.ok()) << text;
    if (unpacked) {
      EXPECT_EQ(*scan.find("n"), (*unpacked)["n"]) << text;
    }
  }
  EXPECT_FALSE(scan.run(R"({"n": 1e400})"));
  EXPECT_TRUE(scan.run(R"({"n": 1e-400})"));
}

TEST(SessionHeaderText, SaysWhatPackingMakeHeaderSays) {
  // a username that needs escaping, and one that needs none
  for (std::string user : {std::string("alice"), std::string("a \"q\" \\ b\tc \xc3\xa9")}) {
    Session session(SessionConfig{"k", "hmac-sha256", "s-1", user});
    std::string text = session.header_text(msg::kStatus, "e_1_7");
    auto parsed = Session::unpack(text);
    ASSERT_TRUE(parsed) << text;
    Json made = session.make_header(msg::kStatus);
    ASSERT_EQ(parsed->size(), made.size());
    auto it = made.begin();
    for (auto jt = parsed->begin(); jt != parsed->end(); ++jt, ++it) {
      EXPECT_EQ(jt.key(), it.key());  // same members in the same order
    }
    EXPECT_EQ((*parsed)["msg_id"], "e_1_7");
    EXPECT_EQ((*parsed)["msg_type"], "status");
    EXPECT_EQ((*parsed)["username"], user);
    EXPECT_EQ((*parsed)["session"], "s-1");
    EXPECT_EQ((*parsed)["version"], made["version"]);
    EXPECT_TRUE(parse_iso8601((*parsed)["date"].get<std::string>()));
    // with no msg_id, the session's own counter, as make_header
    auto own = Session::unpack(session.header_text(msg::kStatus));
    ASSERT_TRUE(own);
    EXPECT_EQ((*own)["msg_id"].get<std::string>().rfind("s-1_", 0), 0u);
    EXPECT_NE((*own)["msg_id"], made["msg_id"]);
  }
}

TEST(SessionHeaderText, ParsedMessagesKeepTheirHeaderTextAndRepliesCanSendIt) {
  Session client(SessionConfig{"k", "hmac-sha256", "client", "u"});
  Session engine(SessionConfig{"k", "hmac-sha256", "engine", "u"});
  Message request = client.make(msg::kApplyRequest);
  Json sent_header = request.header;
  auto decoded = engine.deserialize(client.serialize(std::move(request)));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(Session::unpack(decoded->header_text).value(), sent_header);

  Message reply = engine.make(msg::kApplyReply, Json{{"status", "ok"}});
  reply.parent_text = decoded->header_text;  // sent as it is
  auto back = client.deserialize(engine.serialize(std::move(reply)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->parent_header, sent_header);
}

}  // namespace
}  // namespace ipp::wire
