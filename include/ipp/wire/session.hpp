#pragma once
// Session: builds, signs, serialises, verifies and parses messages, like jupyter_client's
// Session. One Session belongs to one thread (it owns a Signer and the replay history).
//
// Decoding follows a fixed order: find <IDS|MSG>, count frames, check the signature length,
// compare it in constant time, check it against the replay history, and only then parse JSON.
#include <ipp/util/result.hpp>
#include <ipp/wire/message.hpp>
#include <ipp/wire/signer.hpp>

#include <cstdint>
#include <initializer_list>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace ipp::wire {

enum class DecodeErrorKind {
  NoDelimiter,         // no <IDS|MSG> frame
  TooFewFrames,        // fewer than 5 frames after the delimiter
  Unsigned,            // empty signature while a key is set ("Unsigned Message")
  BadSignatureLength,  // signature of the wrong length for the scheme
  InvalidSignature,    // HMAC mismatch ("Invalid Signature")
  DuplicateSignature,  // replayed message ("Duplicate Signature")
  InvalidUtf8,         // a JSON frame is not UTF-8
  InvalidJson,         // a JSON frame does not parse
  NotAnObject,         // a JSON frame parses to something other than an object
  BadFieldType,        // a header field that is text (msg_id, msg_type, session, ...) is not
};

const char* to_string(DecodeErrorKind kind);

struct DecodeError {
  DecodeErrorKind kind;
  std::string detail;
  std::string what() const;
};

// Bounded history of signatures seen, for replay protection. Python keeps 65536 and drops a
// random 10% when full; we drop the oldest 10%, which keeps the newest ones, the ones a replay
// would most likely reuse.
class ReplayGuard {
 public:
  explicit ReplayGuard(std::size_t capacity = 65536) : capacity_(capacity) {}
  // True when `digest` is new (and records it); false when it was seen before.
  bool insert(std::string_view digest);
  std::size_t size() const { return seen_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> order_;
};

struct SessionConfig {
  std::string key;
  std::string signature_scheme = "hmac-sha256";
  std::string session_id;  // empty: a fresh new_id()
  std::string username;    // empty: $USER, else "username"
};

class Session {
 public:
  explicit Session(SessionConfig config = {});

  const std::string& id() const { return id_; }
  const std::string& username() const { return username_; }
  const Signer& signer() const { return signer_; }

  // A header as jupyter_client 7 writes it: msg_id "<session>_<pid>_<counter>", msg_type,
  // username, session, date (ISO-8601, microseconds, Z) and version "5.3".
  Json make_header(std::string_view msg_type);
  // The same header packed, written as text without building a tree; an empty `msg_id` takes
  // this session's next one.
  std::string header_text(std::string_view msg_type, std::string_view msg_id = {});

  // A complete message with a fresh header.
  Message make(std::string_view msg_type, Json content = Json::object(),
               Json parent = Json::object(), Json metadata = Json::object());

  // Packs and signs: identities, <IDS|MSG>, signature, the four JSON frames, buffers (moved).
  Frames serialize(Message&& msg) const;
  // Signs pre-packed JSON frames (used when re-signing forwarded messages).
  Frames serialize_packed(const std::vector<std::string>& identities, std::string header,
                          std::string parent, std::string metadata, std::string content,
                          Frames&& buffers) const;

  // Checks framing and signature and parses the header only. `record_digest` adds the
  // signature to the replay history (Python schedulers peek without recording).
  Result<RawMessage, DecodeError> authenticate(Frames&& frames, bool record_digest = true);
  // authenticate without parsing the header (RawMessage::header stays empty): for a reader that
  // checks and reads the header itself (see FieldScan).
  Result<RawMessage, DecodeError> verify(Frames&& frames, bool record_digest = true);
  // Full decode: authenticate, then parse parent, metadata and content.
  Result<Message, DecodeError> deserialize(Frames&& frames, bool record_digest = true);
  // Parses the rest of an authenticated raw message: consumes it when it succeeds, and leaves it
  // as it was when a part does not decode (so its sender can still be answered).
  static Result<Message, DecodeError> parse(RawMessage&& raw);
  // Decodes frames that another thread of this process has already authenticated (framing
  // checked, signature verified): no signature check, and the parts in `pre` are taken as they
  // are instead of being parsed again. Never use it on frames straight from a socket to a peer.
  static Result<Message, DecodeError> parse_authenticated(Frames&& frames, PreParsed&& pre);

  // Where the parts are in a message's frames (framing checks only).
  static Result<Envelope, DecodeError> envelope(const Frames& frames);

  static std::string pack(const Json& j);
  // Appends `s` as a JSON string literal, escaped as pack escapes it.
  static void append_json_string(std::string& out, std::string_view s);
  static Result<Json, DecodeError> unpack(std::string_view bytes);
  // unpack's checks without building the tree.
  static Result<Ok, DecodeError> check(std::string_view bytes);

 private:
  Signer signer_;
  ReplayGuard replay_;
  std::string id_;
  std::string username_;
  std::string msg_id_prefix_;
  std::uint64_t counter_ = 0;
  // username_ and id_ as JSON string literals (quoted, escaped), for header_text
  std::string username_json_;
  std::string id_json_;
};

// Reads chosen top-level members of a JSON object text without building a tree, while checking
// the whole text as Session::unpack does (UTF-8, JSON grammar, an object at the top, the same
// error kinds). For hot paths that need a few fields of each message part: a tree costs an
// allocation or more per member. Scalars and empty arrays or objects are captured; a wanted
// member holding a non-empty array or object is only flagged (nested()), and a reader that needs
// it parses the text in full. With repeated keys the last one counts, as in a tree. The keys are
// not copied: pass string literals. Reusable: each run() forgets the previous text.
class FieldScan {
 public:
  explicit FieldScan(std::initializer_list<std::string_view> keys);
  Result<Ok, DecodeError> run(std::string_view text);
  // The member's captured value; nullptr when absent or nested.
  const Json* find(std::string_view key) const;
  // A wanted member holds a non-empty array or object.
  bool nested() const { return nested_; }
  // Helpers over find(): the string value, or `fallback` when absent or not a string.
  std::string string_or(std::string_view key, std::string fallback = {}) const;
  // The value, or null when absent.
  Json value_or_null(std::string_view key) const;

 private:
  enum class State { Absent, Value, Nested };
  std::vector<std::string_view> keys_;
  std::vector<State> states_;
  std::vector<Json> values_;
  bool nested_ = false;
};

// The msg_type in a message's header frame, found by scanning the JSON text without parsing or
// authenticating it; empty when there is none. For cheap routing decisions only (a relay that
// spares the hub messages it ignores anyway); anything acted upon must be deserialized.
std::string_view peek_msg_type(const Frames& frames);

}  // namespace ipp::wire
