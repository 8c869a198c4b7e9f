#include <ipp/util/ids.hpp>
#include <ipp/wire/msg_types.hpp>
#include <ipp/wire/session.hpp>

#include <unistd.h>

#include <cstdlib>

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

// nlohmann's SAX interface: every event returns true to go on. Depth 1 is the top object.
struct FieldScanHandler {
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  FieldScan& scan;
  int depth = 0;
  bool started = false;
  bool not_object = false;   // the top value is not an object (the text is still checked)
  int slot = -1;             // wanted member whose value comes next (depth 1)
  int fresh = -1;            // wanted member whose array/object just opened (empty so far)

  int index_of(std::string_view k) const {
    for (std::size_t i = 0; i < scan.keys_.size(); ++i) {
      if (scan.keys_[i] == k) return static_cast<int>(i);
    }
    return -1;
  }
  void set(int i, Json v) {
    scan.states_[i] = FieldScan::State::Value;
    scan.values_[i] = std::move(v);
  }
  // Any event inside a just-opened wanted composite makes it non-empty.
  void touch() {
    if (fresh < 0) return;
    scan.states_[fresh] = FieldScan::State::Nested;
    scan.values_[fresh] = nullptr;
    scan.nested_ = true;
    fresh = -1;
  }
  // A scalar event: `make` builds its value, only when it is a wanted top-level member.
  template <typename Make>
  bool scalar(Make&& make) {
    if (!started) {
      started = true;
      not_object = true;
      return true;
    }
    touch();
    if (depth == 1 && slot >= 0) set(slot, make());
    slot = -1;
    return true;
  }
  bool open(bool object) {
    if (!started) {
      started = true;
      not_object = !object;
      depth = 1;
      return true;
    }
    touch();
    if (depth == 1 && slot >= 0) fresh = slot;
    slot = -1;
    ++depth;
    return true;
  }
  bool close(bool object) {
    if (fresh >= 0) {
      set(fresh, object ? Json::object() : Json::array());
      fresh = -1;
    }
    --depth;
    return true;
  }
  bool null() { return scalar([] { return Json(nullptr); }); }
  bool boolean(bool v) { return scalar([v] { return Json(v); }); }
  bool number_integer(number_integer_t v) { return scalar([v] { return Json(v); }); }
  bool number_unsigned(number_unsigned_t v) { return scalar([v] { return Json(v); }); }
  bool number_float(number_float_t v, const string_t& /*text*/) {
    return scalar([v] { return Json(v); });
  }
  bool string(string_t& v) { return scalar([&v] { return Json(std::move(v)); }); }
  bool binary(binary_t& v) { return scalar([&v] { return Json::binary(std::move(v)); }); }
  bool start_object(std::size_t /*n*/) { return open(true); }
  bool start_array(std::size_t /*n*/) { return open(false); }
  bool end_object() { return close(true); }
  bool end_array() { return close(false); }
  bool key(string_t& k) {
    touch();
    if (depth == 1 && !not_object) {
      slot = index_of(k);
    }
    return true;
  }
  bool parse_error(std::size_t /*pos*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return false;
  }
};

Result<Ok, DecodeError> FieldScan::run(std::string_view text) {
  auto forget = [this] {
    std::fill(states_.begin(), states_.end(), State::Absent);
    for (auto& v : values_) v = nullptr;
    nested_ = false;
  };
  forget();
  if (!valid_utf8(text)) return DecodeError{DecodeErrorKind::InvalidUtf8, {}};
  FieldScanHandler h{*this};
  if (!Json::sax_parse(text.begin(), text.end(), &h)) {
    forget();
    return DecodeError{DecodeErrorKind::InvalidJson, {}};
  }
  if (h.not_object) {
    forget();
    return DecodeError{DecodeErrorKind::NotAnObject, {}};
  }
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
  raw->header = std::move(header).value();
  return raw;
}

Result<Message, DecodeError> Session::parse(RawMessage&& raw) {
  Message m;
  const Envelope& e = raw.env;
  m.identities.reserve(e.delim);
  for (std::size_t i = 0; i < e.delim; ++i) m.identities.emplace_back(view(raw.frames[i]));
  m.header = std::move(raw.header);
  m.header_text = view(raw.frames[e.header()]);
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
  m.header_text = view(frames[e.header()]);
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
