#include <ipp/util/ids.hpp>
#include <ipp/wire/msg_types.hpp>
#include <ipp/wire/session.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace ipp::wire {

const char* to_string(DecodeErrorKind kind) {
  switch (kind) {
    case DecodeErrorKind::NoDelimiter: return "NoDelimiter";
    case DecodeErrorKind::TooFewFrames: return "TooFewFrames";
    case DecodeErrorKind::Unsigned: return "Unsigned Message";
    case DecodeErrorKind::BadSignatureLength: return "BadSignatureLength";
    case DecodeErrorKind::InvalidSignature: return "Invalid Signature";
    case DecodeErrorKind::DuplicateSignature: return "Duplicate Signature";
    case DecodeErrorKind::InvalidUtf8: return "InvalidUtf8";
    case DecodeErrorKind::InvalidJson: return "InvalidJson";
    case DecodeErrorKind::NotAnObject: return "NotAnObject";
    case DecodeErrorKind::BadFieldType: return "BadFieldType";
  }
  return "Unknown";
}

std::string DecodeError::what() const {
  std::string s = to_string(kind);
  if (!detail.empty()) s += ": " + detail;
  return s;
}

bool ReplayGuard::insert(std::string_view digest) {
  std::string key(digest);
  if (seen_.count(key) != 0) return false;
  if (seen_.size() >= capacity_) {
    std::size_t drop = std::max<std::size_t>(1, capacity_ / 10);
    for (std::size_t i = 0; i < drop && !order_.empty(); ++i) {
      seen_.erase(order_.front());
      order_.pop_front();
    }
  }
  seen_.insert(key);
  order_.push_back(std::move(key));
  return true;
}

namespace {

std::string default_username() {
  const char* user = std::getenv("USER");
  return (user != nullptr && *user != '\0') ? user : "username";
}

// UTF-8 validity check (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

}  // namespace

Session::Session(SessionConfig config)
    : signer_(std::move(config.key), config.signature_scheme),
      id_(config.session_id.empty() ? new_id() : std::move(config.session_id)),
      username_(config.username.empty() ? default_username() : std::move(config.username)) {
  msg_id_prefix_ = id_ + "_" + std::to_string(::getpid()) + "_";
  append_json_string(username_json_, username_);
  append_json_string(id_json_, id_);
}

void Session::append_json_string(std::string& out, std::string_view s) {
  bool plain = true;
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (!plain) {
    out += pack(Json(s));
    return;
  }
  out.push_back('"');
  out.append(s);
  out.push_back('"');
}

std::string Session::header_text(std::string_view msg_type, std::string_view msg_id) {
  std::string out;
  out.reserve(160 + 2 * id_json_.size() + username_json_.size() + msg_type.size());
  out.append("{\"msg_id\":");
  if (msg_id.empty()) {
    append_json_string(out, msg_id_prefix_ + std::to_string(counter_++));
  } else {
    append_json_string(out, msg_id);
  }
  out.append(",\"msg_type\":");
  append_json_string(out, msg_type);
  out.append(",\"username\":");
  out.append(username_json_);
  out.append(",\"session\":");
  out.append(id_json_);
  out.append(",\"date\":\"");
  out.append(iso8601_now());
  out.append("\",\"version\":\"");
  out.append(kProtocolVersion);
  out.append("\"}");
  return out;
}

Json Session::make_header(std::string_view msg_type) {
  Json h = Json::object();
  h["msg_id"] = msg_id_prefix_ + std::to_string(counter_++);
  h["msg_type"] = msg_type;
  h["username"] = username_;
  h["session"] = id_;
  h["date"] = iso8601_now();
  h["version"] = kProtocolVersion;
  return h;
}

Message Session::make(std::string_view msg_type, Json content, Json parent, Json metadata) {
  Message m;
  m.header = make_header(msg_type);
  m.parent_header = std::move(parent);
  m.metadata = std::move(metadata);
  m.content = std::move(content);
  return m;
}

std::string Session::pack(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

// The header fields every reader takes as text. A message (or a parent header) where one of
// them is a number, a list or null is refused here, once, rather than by every reader.
Result<Ok, DecodeError> check_text_fields(const Json& header, const char* part) {
  for (const char* field : {"msg_id", "msg_type", "session", "username", "version", "date"}) {
    const auto it = header.find(field);
    if (it != header.end() && !it->is_string()) {
      return DecodeError{DecodeErrorKind::BadFieldType, std::string(part) + "." + field};
    }
  }
  return Ok{};
}

}  // namespace

Result<Json, DecodeError> Session::unpack(std::string_view bytes) {
  if (!valid_utf8(bytes)) return DecodeError{DecodeErrorKind::InvalidUtf8, {}};
  Json j = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DecodeError{DecodeErrorKind::InvalidJson, {}};
  if (!j.is_object()) return DecodeError{DecodeErrorKind::NotAnObject, {}};
  return j;
}

Result<Ok, DecodeError> Session::check(std::string_view bytes) {
  FieldScan scan{std::initializer_list<std::string_view>{}};  // nothing to capture: checks only
  return scan.run(bytes);
}

Frames Session::serialize_packed(const std::vector<std::string>& identities, std::string header,
                                 std::string parent, std::string metadata, std::string content,
                                 Frames&& buffers) const {
  Frames out;
  out.reserve(identities.size() + 6 + buffers.size());
  for (const auto& id : identities) out.emplace_back(id.data(), id.size());
  out.emplace_back(kDelimiter.data(), kDelimiter.size());
  std::string sig = signer_.sign({header, parent, metadata, content});
  out.emplace_back(sig.data(), sig.size());
  out.emplace_back(header.data(), header.size());
  out.emplace_back(parent.data(), parent.size());
  out.emplace_back(metadata.data(), metadata.size());
  out.emplace_back(content.data(), content.size());
  for (auto& b : buffers) out.push_back(std::move(b));
  return out;
}

Frames Session::serialize(Message&& msg) const {
  std::string parent =
      msg.parent_text.empty() ? pack(msg.parent_header) : std::move(msg.parent_text);
  return serialize_packed(msg.identities, pack(msg.header), std::move(parent), pack(msg.metadata),
                          pack(msg.content), std::move(msg.buffers));
}

namespace {

// Index of <IDS|MSG>, with the five frames a message needs after it.
Result<std::size_t, DecodeError> find_delimiter(const Frames& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (view(frames[i]) != kDelimiter) continue;
    if (frames.size() - i - 1 < 5) {
      return DecodeError{DecodeErrorKind::TooFewFrames,
                         std::to_string(frames.size() - i - 1) + " frames after <IDS|MSG>"};
    }
    return i;
  }
  return DecodeError{DecodeErrorKind::NoDelimiter, {}};
}

}  // namespace

// ------------------------------------------------------------------------------ FieldScan

FieldScan::FieldScan(std::initializer_list<std::string_view> keys)
    : keys_(keys), states_(keys.size(), State::Absent), values_(keys.size()) {}

namespace {

// A JSON checker with nlohmann's acceptance, over text already checked as UTF-8: RFC 8259's
// grammar, one UTF-8 byte order mark skipped at the start, unpaired surrogate escapes refused,
// and numbers that do not fit a double (1e400) refused. It walks the text once, byte by byte,
// with an explicit stack (no recursion, so no depth limit) and builds nothing.
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {
    if (end_ - p_ >= 3 && static_cast<unsigned char>(p_[0]) == 0xEF &&
        static_cast<unsigned char>(p_[1]) == 0xBB && static_cast<unsigned char>(p_[2]) == 0xBF) {
      p_ += 3;
    }
  }

  const char* pos() const { return p_; }
  bool at(char c) const { return p_ < end_ && *p_ == c; }
  bool at_end() const { return p_ == end_; }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) {
    if (!at(c)) return false;
    ++p_;
    return true;
  }

  // One string at the cursor (which is on its opening quote); `escaped` says whether it holds
  // any escape, so a caller can compare plain keys byte for byte.
  bool string(bool* escaped = nullptr) {
    if (!eat('"')) return false;
    bool any = false;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        if (escaped != nullptr) *escaped = any;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        ++p_;
        continue;
      }
      any = true;
      if (++p_ >= end_) return false;
      switch (*p_) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          ++p_;
          break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
          if (cp >= 0xD800 && cp <= 0xDBFF) {              // must be followed by a low one
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            ++p_;
            unsigned low = 0;
            if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // One value of any kind at the cursor, containers included.
  bool value() {
    std::string stack;  // '{' or '[' per open container
    for (;;) {
      skip_ws();
      if (p_ >= end_) return false;
      bool done_one = true;  // a complete value was read (not a container just opened)
      switch (*p_) {
        case '{':
          ++p_;
          skip_ws();
          if (eat('}')) break;
          stack.push_back('{');
          if (!member_key()) return false;
          done_one = false;
          break;
        case '[':
          ++p_;
          skip_ws();
          if (eat(']')) break;
          stack.push_back('[');
          done_one = false;
          break;
        case '"':
          if (!string()) return false;
          break;
        case 't':
          if (!literal("true")) return false;
          break;
        case 'f':
          if (!literal("false")) return false;
          break;
        case 'n':
          if (!literal("null")) return false;
          break;
        default:
          if (!number()) return false;
      }
      if (!done_one) continue;
      // after a complete value: close containers, or go on to the next element
      for (;;) {
        if (stack.empty()) return true;
        skip_ws();
        if (eat(',')) {
          if (stack.back() == '{') {
            skip_ws();
            if (!member_key()) return false;
          }
          break;
        }
        if (!eat(stack.back() == '{' ? '}' : ']')) return false;
        stack.pop_back();
      }
    }
  }

  // `"key" :` at the cursor (after whitespace).
  bool member_key(std::string_view* raw = nullptr, bool* escaped = nullptr) {
    const char* start = p_;
    if (!string(escaped)) return false;
    if (raw != nullptr) {
      *raw = std::string_view(start + 1, static_cast<std::size_t>(p_ - start - 2));
    }
    skip_ws();
    return eat(':');
  }

 private:
  bool hex4(unsigned* out) {  // the cursor is on the 'u'
    if (end_ - p_ < 5) return false;
    unsigned v = 0;
    for (int i = 1; i <= 4; ++i) {
      char c = p_[i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else return false;
    }
    p_ += 5;
    *out = v;
    return true;
  }
  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  static bool digit(char c) { return c >= '0' && c <= '9'; }
  bool number() {
    const char* start = p_;
    eat('-');
    if (p_ >= end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && digit(*p_)) ++p_;
    } else {
      return false;
    }
    bool is_float = false;
    if (eat('.')) {
      is_float = true;
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (at('e') || at('E')) {
      is_float = true;
      ++p_;
      if (!eat('+')) eat('-');
      if (p_ >= end_ || !digit(*p_)) return false;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    // As nlohmann: integers that overflow 64 bits become doubles, and a double that overflows is
    // an error. Short integers cannot overflow; anything else is checked the way it converts.
    if (is_float || p_ - start > 18) {
      std::string token(start, p_);
      if (!std::isfinite(std::strtod(token.c_str(), nullptr))) return false;
    }
    return true;
  }

  const char* p_;
  const char* end_;
};

// The value of a checked scalar token: plain strings and the literals directly, the rest
// (escapes, numbers) through the parser.
Json scalar(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.find('\\') == std::string_view::npos) {
    return Json(std::string(v.substr(1, v.size() - 2)));
  }
  if (v == "null") return Json(nullptr);
  if (v == "true") return Json(true);
  if (v == "false") return Json(false);
  return Json::parse(v);
}

}  // namespace

Result<Ok, DecodeError> FieldScan::run(std::string_view text) {
  auto forget = [this] {  // each run starts, and each failure ends, with nothing captured
    std::fill(states_.begin(), states_.end(), State::Absent);
    for (auto& v : values_) v = nullptr;
    nested_ = false;
  };
  auto fail = [&forget](DecodeErrorKind kind) -> Result<Ok, DecodeError> {
    forget();
    return DecodeError{kind, {}};
  };
  forget();
  if (!valid_utf8(text)) return fail(DecodeErrorKind::InvalidUtf8);
  JsonChecker in(text);
  in.skip_ws();
  if (!in.at('{')) {
    // not an object: still checked, so that broken text is InvalidJson as unpack says
    if (!in.value()) return fail(DecodeErrorKind::InvalidJson);
    in.skip_ws();
    return fail(in.at_end() ? DecodeErrorKind::NotAnObject : DecodeErrorKind::InvalidJson);
  }
  in.eat('{');
  in.skip_ws();
  if (!in.eat('}')) {
    for (;;) {
      in.skip_ws();
      std::string_view raw;
      bool escaped = false;
      if (!in.member_key(&raw, &escaped)) return fail(DecodeErrorKind::InvalidJson);
      int slot = -1;
      if (!keys_.empty()) {
        std::string unescaped;
        std::string_view key = raw;
        if (escaped) {  // rare: compare the decoded key
          unescaped = Json::parse(std::string("\"") + std::string(raw) + "\"").get<std::string>();
          key = unescaped;
        }
        for (std::size_t i = 0; i < keys_.size() && slot < 0; ++i) {
          if (keys_[i] == key) slot = static_cast<int>(i);
        }
      }
      in.skip_ws();
      const char* begin = in.pos();
      if (!in.value()) return fail(DecodeErrorKind::InvalidJson);
      if (slot >= 0) {
        std::string_view v(begin, static_cast<std::size_t>(in.pos() - begin));
        if (v.front() == '{' || v.front() == '[') {
          // empty unless something other than whitespace sits between the brackets
          bool empty = v.find_first_not_of(" \t\n\r", 1) == v.size() - 1;
          if (empty) {
            states_[slot] = State::Value;
            values_[slot] = v.front() == '{' ? Json::object() : Json::array();
          } else {
            states_[slot] = State::Nested;
            values_[slot] = nullptr;
            nested_ = true;
          }
        } else {
          states_[slot] = State::Value;
          values_[slot] = scalar(v);
        }
      }
      in.skip_ws();
      if (in.eat(',')) continue;
      if (in.eat('}')) break;
      return fail(DecodeErrorKind::InvalidJson);
    }
  }
  in.skip_ws();
  if (!in.at_end()) return fail(DecodeErrorKind::InvalidJson);
  return Ok{};
}

const Json* FieldScan::find(std::string_view key) const {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return states_[i] == State::Value ? &values_[i] : nullptr;
  }
  return nullptr;
}

std::string FieldScan::string_or(std::string_view key, std::string fallback) const {
  const Json* v = find(key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::move(fallback);
}

Json FieldScan::value_or_null(std::string_view key) const {
  const Json* v = find(key);
  return v != nullptr ? *v : Json();
}

std::string_view peek_msg_type(const Frames& frames) {
  auto found = find_delimiter(frames);
  if (!found) return {};
  std::string_view header = view(frames[found.value() + 2]);
  // "msg_type" followed by ':' is the key: an escaped quote cannot end a string value early,
  // and a value "msg_type" is followed by ',' or '}'
  constexpr std::string_view kKey = "\"msg_type\"";
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  for (auto pos = header.find(kKey); pos != std::string_view::npos;
       pos = header.find(kKey, pos + 1)) {
    auto i = pos + kKey.size();
    while (i < header.size() && is_space(header[i])) ++i;
    if (i >= header.size() || header[i] != ':') continue;
    ++i;
    while (i < header.size() && is_space(header[i])) ++i;
    if (i >= header.size() || header[i] != '"') return {};
    auto end = header.find('"', i + 1);
    if (end == std::string_view::npos) return {};
    std::string_view value = header.substr(i + 1, end - i - 1);
    if (value.find('\\') != std::string_view::npos) return {};  // escaped: not a plain name
    return value;
  }
  return {};
}

Result<RawMessage, DecodeError> Session::verify(Frames&& frames, bool record_digest) {
  auto found = find_delimiter(frames);
  if (!found.ok()) return found.error();
  const std::size_t delim = *found;
  RawMessage raw;
  raw.env.delim = delim;
  const Envelope& e = raw.env;
  if (signer_.enabled()) {
    std::string_view sig = view(frames[e.signature()]);
    if (sig.empty()) return DecodeError{DecodeErrorKind::Unsigned, {}};
    if (sig.size() != signer_.hex_size()) {
      return DecodeError{DecodeErrorKind::BadSignatureLength,
                         std::to_string(sig.size()) + " != " + std::to_string(signer_.hex_size())};
    }
    if (!signer_.verify(sig, {view(frames[e.header()]), view(frames[e.parent()]),
                              view(frames[e.metadata()]), view(frames[e.content()])})) {
      return DecodeError{DecodeErrorKind::InvalidSignature, {}};
    }
    if (record_digest && !replay_.insert(sig)) {
      return DecodeError{DecodeErrorKind::DuplicateSignature, {}};
    }
  }
  raw.frames = std::move(frames);
  return raw;
}

Result<RawMessage, DecodeError> Session::authenticate(Frames&& frames, bool record_digest) {
  auto raw = verify(std::move(frames), record_digest);
  if (!raw) return raw;
  auto header = unpack(view(raw->frames[raw->env.header()]));
  if (!header) {
    DecodeError err = header.error();
    err.detail = "header";
    return err;
  }
  if (auto typed = check_text_fields(*header, "header"); !typed) return typed.error();
  raw->header = std::move(header).value();
  return raw;
}

Result<Message, DecodeError> Session::parse(RawMessage&& raw) {
  // `raw` is left as it was when a part does not decode, so the caller can still answer it
  Message m;
  const Envelope& e = raw.env;
  static constexpr const char* kNames[] = {"parent_header", "metadata", "content"};
  Json* targets[] = {&m.parent_header, &m.metadata, &m.content};
  for (std::size_t k = 0; k < 3; ++k) {
    auto part = unpack(view(raw.frames[e.parent() + k]));
    if (!part) {
      DecodeError err = part.error();
      err.detail = kNames[k];
      return err;
    }
    *targets[k] = std::move(part).value();
  }
  if (auto typed = check_text_fields(m.parent_header, "parent_header"); !typed) {
    return typed.error();
  }
  m.identities.reserve(e.delim);
  for (std::size_t i = 0; i < e.delim; ++i) m.identities.emplace_back(view(raw.frames[i]));
  m.header = std::move(raw.header);
  m.header_text = view(raw.frames[e.header()]);
  for (std::size_t i = e.first_buffer(); i < raw.frames.size(); ++i) {
    m.buffers.push_back(std::move(raw.frames[i]));
  }
  return m;
}

Result<Message, DecodeError> Session::parse_authenticated(Frames&& frames, PreParsed&& pre) {
  auto found = find_delimiter(frames);
  if (!found.ok()) return found.error();
  const std::size_t delim = *found;
  const Envelope e{delim};
  Message m;
  m.identities.reserve(delim);
  for (std::size_t i = 0; i < delim; ++i) m.identities.emplace_back(view(frames[i]));
  static constexpr const char* kNames[] = {"header", "parent_header", "metadata", "content"};
  std::optional<Json>* given[] = {&pre.header, &pre.parent, &pre.metadata, nullptr};
  Json* targets[] = {&m.header, &m.parent_header, &m.metadata, &m.content};
  for (std::size_t k = 0; k < 4; ++k) {
    if (given[k] != nullptr && given[k]->has_value()) {
      *targets[k] = std::move(**given[k]);
      continue;
    }
    auto part = unpack(view(frames[e.header() + k]));
    if (!part) {
      DecodeError err = part.error();
      err.detail = kNames[k];
      return err;
    }
    *targets[k] = std::move(part).value();
  }
  if (auto typed = check_text_fields(m.header, "header"); !typed) return typed.error();
  if (auto typed = check_text_fields(m.parent_header, "parent_header"); !typed) {
    return typed.error();
  }
  m.buffers.reserve(frames.size() - e.first_buffer());
  for (std::size_t i = e.first_buffer(); i < frames.size(); ++i) {
    m.buffers.push_back(std::move(frames[i]));
  }
  return m;
}

Result<Envelope, DecodeError> Session::envelope(const Frames& frames) {
  auto found = find_delimiter(frames);
  if (!found.ok()) return found.error();
  return Envelope{*found};
}

Result<Message, DecodeError> Session::deserialize(Frames&& frames, bool record_digest) {
  auto raw = authenticate(std::move(frames), record_digest);
  if (!raw) return raw.error();
  return parse(std::move(raw).value());
}

}  // namespace ipp::wire
