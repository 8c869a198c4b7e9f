// libFuzzer entry point for one target of targets.hpp, chosen at build time with
// -DIPP_FUZZ_TARGET=<name> (tests/fuzz/CMakeLists.txt makes ipp_fuzz_<name> for each).
// Campaign commands and figures: docs/security.md.
#include "targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ipp::fuzz::IPP_FUZZ_TARGET(ipp::fuzz::as_bytes(data, size));
}
