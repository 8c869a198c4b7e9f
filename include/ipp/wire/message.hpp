#pragma once
// The message model of jupyter_client's Session, as ipyparallel uses it:
//   [identities...] <IDS|MSG> signature header parent_header metadata content [buffers...]
// Two forms: RawMessage keeps the received zmq frames untouched (so relays forward them and the
// signature stays valid); Message is the parsed form that handlers work with.
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipp::wire {

// Insertion-ordered JSON, so what we send reads in the same key order Python writes.
using Json = nlohmann::ordered_json;
using Frame = zmq::message_t;
using Frames = std::vector<zmq::message_t>;

inline std::string_view view(const Frame& f) {
  return {static_cast<const char*>(f.data()), f.size()};
}
inline Frame frame(std::string_view s) { return Frame(s.data(), s.size()); }

// Positions of the parts inside a received frame list. Valid only for the frames it came from.
struct Envelope {
  std::size_t delim = 0;  // index of <IDS|MSG>; identities are [0, delim)
  std::size_t signature() const { return delim + 1; }
  std::size_t header() const { return delim + 2; }
  std::size_t parent() const { return delim + 3; }
  std::size_t metadata() const { return delim + 4; }
  std::size_t content() const { return delim + 5; }
  std::size_t first_buffer() const { return delim + 6; }
};

// Received frames plus where the parts are. The header is parsed (routing needs msg_type and
// msg_id); the rest stays bytes until someone asks.
struct RawMessage {
  Frames frames;
  Envelope env;
  Json header;

  std::size_t identity_count() const { return env.delim; }
  std::string_view identity(std::size_t i) const { return view(frames[i]); }
  std::string msg_type() const { return header.value("msg_type", std::string()); }
  std::string msg_id() const { return header.value("msg_id", std::string()); }
  std::size_t buffer_count() const { return frames.size() - env.first_buffer(); }
};

struct Message {
  std::vector<std::string> identities;
  Json header = Json::object();
  Json parent_header = Json::object();
  Json metadata = Json::object();
  Json content = Json::object();
  Frames buffers;
  // The header as the JSON text it arrived in (set by Session::parse, so by deserialize; empty
  // for a message built here), so that a reply can send it as its parent header without
  // packing. parse_authenticated, the hub's path for copies it only records, leaves it empty.
  std::string header_text;
  // When not empty, Session::serialize sends this text as the parent header instead of packing
  // parent_header (they must say the same thing).
  std::string parent_text;

  std::string msg_type() const { return header.value("msg_type", std::string()); }
  std::string msg_id() const { return header.value("msg_id", std::string()); }
};

// JSON parts a thread of this process has already parsed from an authenticated message, handed
// on with the frames so that no part is parsed twice (see Session::parse_authenticated).
struct PreParsed {
  std::optional<Json> header, parent, metadata;
};

}  // namespace ipp::wire
