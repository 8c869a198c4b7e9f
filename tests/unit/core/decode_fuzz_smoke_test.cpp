// Runs the decoder fuzz target over mutations of valid messages, so the target keeps compiling
// and the decoder survives garbage in every build (the libFuzzer run goes deeper).
#include <ipp/wire/msg_types.hpp>

#include <gtest/gtest.h>

#include <random>

#include "../../fuzz/decode_target.hpp"

namespace {

TEST(DecodeFuzzSmoke, SurvivesMutatedMessages) {
  ipp::wire::Session s(ipp::wire::SessionConfig{"fuzz-key", "hmac-sha256", "x", "u"});
  auto m = s.make(ipp::wire::msg::kApplyRequest, ipp::wire::Json{{"a", "é"}});
  m.identities = {"id"};
  m.buffers.push_back(ipp::wire::frame("buf"));
  std::string seed;
  for (const auto& f : s.serialize(std::move(m))) {
    if (!seed.empty()) seed.push_back('\xff');
    seed.append(ipp::wire::view(f));
  }
  std::mt19937 rng(42);
  std::size_t runs = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string input = seed;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !input.empty(); ++e) {
      std::size_t pos = rng() % input.size();
      switch (rng() % 4) {
        case 0: input[pos] = static_cast<char>(rng()); break;
        case 1: input.erase(pos, 1 + rng() % 16); break;
        case 2: input.insert(pos, 1, static_cast<char>(rng())); break;
        default: input.insert(pos, 1, '\xff'); break;
      }
    }
    ipp::fuzz::decode_one(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    ++runs;
  }
  EXPECT_EQ(runs, 20000u);
}

}  // namespace
