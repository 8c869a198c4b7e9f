// Replays every fuzz corpus (tests/fuzz/corpus/<target>/) through its target in the normal
// build, so CI runs each target over the inputs the campaigns found interesting: a crash, a
// sanitizer report (in sanitizer builds) or an undocumented exception fails the test.
#include "../fuzz/targets.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace {

namespace fs = std::filesystem;

const fs::path kCorpus = fs::path(IPP_FUZZ_CORPUS_DIR);

class FuzzReplay : public ::testing::TestWithParam<ipp::fuzz::Target> {};

TEST_P(FuzzReplay, CorpusRunsClean) {
  const auto& target = GetParam();
  const fs::path dir = kCorpus / target.name;
  ASSERT_TRUE(fs::is_directory(dir)) << "no seed corpus for target " << target.name << " in "
                                     << dir;
  std::size_t inputs = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(target.run(bytes), 0);
    ++inputs;
  }
  EXPECT_GT(inputs, 0u) << "empty corpus for " << target.name;
}

INSTANTIATE_TEST_SUITE_P(AllTargets, FuzzReplay, ::testing::ValuesIn(ipp::fuzz::kTargets),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
