// libFuzzer entry point for the wire decoder. Build with -DIPP_BUILD_FUZZ=ON and clang:
//   CXX=clang++ cmake -S . -B build-fuzz -DIPP_BUILD_FUZZ=ON && cmake --build build-fuzz -j2 \
//     --target ipp_decode_fuzz && build-fuzz/bin/ipp_decode_fuzz -max_total_time=600
#include "decode_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ipp::fuzz::decode_one(data, size);
}
