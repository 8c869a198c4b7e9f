#pragma once
// The decoder fuzz target, shared by the libFuzzer binary (tests/fuzz/decode_fuzz.cpp) and the
// unit-test smoke run. The input is split into frames at every 0xff byte; the frames go through
// Session::deserialize with and without a key, and through the relays' ForwardCheck. Any result
// is fine; a crash or a sanitizer report is the bug.
#include <ipp/wire/forward_check.hpp>
#include <ipp/wire/session.hpp>

#include <cstddef>
#include <cstdint>

namespace ipp::fuzz {

inline int decode_one(const std::uint8_t* data, std::size_t size) {
  static wire::Session keyed(wire::SessionConfig{"fuzz-key", "hmac-sha256", "fuzz", "u"});
  static wire::Session open(wire::SessionConfig{"", "hmac-sha256", "fuzz", "u"});
  for (wire::Session* s : {&keyed, &open}) {
    wire::Frames frames;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= size; ++i) {
      if (i == size || data[i] == 0xff) {
        frames.emplace_back(data + start, i - start);
        start = i + 1;
      }
    }
    if (s == &open) {
      static wire::ForwardCheck check;
      if (auto env = wire::Session::envelope(frames)) (void)check.run(frames, *env);
    }
    auto r = s->deserialize(std::move(frames));
    if (r) {
      (void)r->msg_type();
      (void)r->msg_id();
    }
  }
  return 0;
}

}  // namespace ipp::fuzz
