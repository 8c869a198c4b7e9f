#pragma once
// What a client's Session needs of a message before it can take it in: the four JSON parts are
// objects, and the header fields it reads as text (msg_id, msg_type, session, ...) are text, in
// the header and the parent header. Checked with validating scans, without JSON trees, by the
// relays that forward engine messages to clients unparsed: Python's client stops reading a
// socket on which one message fails to decode, so one bad message must not reach it.
#include <ipp/wire/message.hpp>
#include <ipp/wire/session.hpp>

namespace ipp::wire {

class ForwardCheck {
 public:
  Result<Ok, DecodeError> run(const Frames& frames, const Envelope& env);

 private:
  Result<Ok, DecodeError> text_fields(FieldScan& scan, std::string_view text, const char* part);

  FieldScan header_{"msg_id", "msg_type", "session", "username", "version", "date"};
  FieldScan parent_{"msg_id", "msg_type", "session", "username", "version", "date"};
  FieldScan object_{std::initializer_list<std::string_view>{}};
};

}  // namespace ipp::wire
