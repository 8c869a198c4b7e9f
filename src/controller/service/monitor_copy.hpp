#pragma once
// The monitor copies the task thread sends the hub. Both are threads of one process, so a copy
// of a message the task thread has already authenticated travels as one object holding the
// (shared) frames and the few fields the hub indexes, which the task thread read from the parts
// it parsed: the hub neither checks the signature again nor parses those parts (it keeps them as
// text, see db::raw_json), and the inproc pipe moves two frames instead of one per message part.
// The JSON trees are freed by the thread that built them. The object rides in a zero-copy inproc frame that owns it and frees it
// with the frame, on whichever thread drops it last. Copies from the relays, which forward
// without checking, keep the plain topics and frames, and the hub verifies them.
#include <ipp/wire/message.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ipp::controller::service {

// [topic, copy frame (an AuthenticatedCopy)]
inline constexpr std::string_view kAuthenticatedTaskIn = "intask:authenticated";
inline constexpr std::string_view kAuthenticatedTaskOut = "outtask:authenticated";

// The fields the hub indexes a task record by, read by the task thread from the parts it parsed
// to route the message.
struct IndexedFields {
  std::string msg_id;              // a request's own id; a reply's parent id
  wire::Json date;                 // the header's date: submitted, or a reply's completed
  wire::Json session;              // a request's client session (client_uuid)
  std::optional<wire::Json> label;  // a request's metadata label
  std::string engine;              // a reply's metadata engine, else the engine it came from
  wire::Json started;              // a reply's metadata started
  bool ok = true;                  // a reply's metadata status is "ok"
};

struct AuthenticatedCopy {
  // Absent for messages the hub decodes in full (the scheduler's own error replies).
  std::optional<IndexedFields> fields;
  wire::Frames frames;  // the message as it travels, identities first
  // A request the scheduler sent to an engine at once: that engine's uuid, so the hub records
  // the destination without a separate "tracktask" message. Empty otherwise.
  std::string engine;
};

// A frame that owns `copy`. Only for inproc sockets: the frame carries a pointer.
inline wire::Frame copy_frame(std::unique_ptr<AuthenticatedCopy> copy) {
  AuthenticatedCopy* p = copy.release();
  return wire::Frame(
      p, sizeof(AuthenticatedCopy),
      [](void* data, void* /*hint*/) { delete static_cast<AuthenticatedCopy*>(data); }, nullptr);
}

// The copy owned by a frame made by copy_frame (nullptr for any other frame). It lives as long
// as the frame; take what is needed by moving.
inline AuthenticatedCopy* copy_in(wire::Frame& f) {
  if (f.size() != sizeof(AuthenticatedCopy)) return nullptr;
  return static_cast<AuthenticatedCopy*>(f.data());
}

}  // namespace ipp::controller::service
