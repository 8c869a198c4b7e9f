#include <ipp/wire/forward_check.hpp>

namespace ipp::wire {

Result<Ok, DecodeError> ForwardCheck::text_fields(FieldScan& scan, std::string_view text,
                                                  const char* part) {
  if (auto scanned = scan.run(text); !scanned) {
    DecodeError err = scanned.error();
    err.detail = part;
    return err;
  }
  // every wanted member is a text field: one holding an array or object is wrong
  if (scan.nested()) return DecodeError{DecodeErrorKind::BadFieldType, part};
  for (const char* field : {"msg_id", "msg_type", "session", "username", "version", "date"}) {
    const Json* value = scan.find(field);
    if (value != nullptr && !value->is_string()) {
      return DecodeError{DecodeErrorKind::BadFieldType, std::string(part) + "." + field};
    }
  }
  return Ok{};
}

Result<Ok, DecodeError> ForwardCheck::run(const Frames& frames, const Envelope& env) {
  if (auto r = text_fields(header_, view(frames[env.header()]), "header"); !r) return r;
  if (auto r = text_fields(parent_, view(frames[env.parent()]), "parent_header"); !r) return r;
  for (auto [index, part] : {std::pair{env.metadata(), "metadata"}, {env.content(), "content"}}) {
    if (auto r = object_.run(view(frames[index])); !r) {
      DecodeError err = r.error();
      err.detail = part;
      return err;
    }
  }
  return Ok{};
}

}  // namespace ipp::wire
