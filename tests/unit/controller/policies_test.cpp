#include "ipp/controller/sched/policies.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace ipp::controller::sched;

TEST(Policies, ParseSchemeNames) {
  EXPECT_EQ(parse_scheme("leastload"), Scheme::LeastLoad);
  EXPECT_EQ(parse_scheme("lru"), Scheme::Lru);
  EXPECT_EQ(parse_scheme("twobin"), Scheme::TwoBin);
  EXPECT_EQ(parse_scheme("plainrandom"), Scheme::PlainRandom);
  EXPECT_EQ(parse_scheme("weighted"), Scheme::Weighted);
  EXPECT_FALSE(parse_scheme("pure"));
  EXPECT_FALSE(parse_scheme("none"));
  for (auto s : {Scheme::LeastLoad, Scheme::Lru, Scheme::TwoBin, Scheme::PlainRandom,
                 Scheme::Weighted})
    EXPECT_EQ(parse_scheme(to_string(s)), s);
}

TEST(Policies, LeastLoadTakesFirstMinimum) {
  std::vector<int> loads{3, 1, 2, 1, 0, 0};
  EXPECT_EQ(leastload(loads), 4u);
  std::vector<int> ties{2, 1, 1};
  EXPECT_EQ(leastload(ties), 1u);
}

TEST(Policies, LruTakesFront) {
  std::vector<int> loads{5, 0, 0};
  EXPECT_EQ(lru(loads), 0u);
}

TEST(Policies, TwoBinPrefersLowerIndices) {
  Rng rng(42);
  std::vector<int> loads(4, 0);
  std::vector<int> hist(4, 0);
  for (int i = 0; i < 40000; ++i) {
    auto idx = twobin(loads, rng);
    ASSERT_LT(idx, 4u);
    ++hist[idx];
  }
  // P(min of two uniform over 4 = k) = (2(4-k)-1)/16: 7/16, 5/16, 3/16, 1/16.
  EXPECT_GT(hist[0], hist[1]);
  EXPECT_GT(hist[1], hist[2]);
  EXPECT_GT(hist[2], hist[3]);
  EXPECT_NEAR(hist[0] / 40000.0, 7.0 / 16, 0.02);
  EXPECT_NEAR(hist[3] / 40000.0, 1.0 / 16, 0.02);
}

TEST(Policies, PlainRandomIsUniformAndSeeded) {
  Rng a(7), b(7);
  std::vector<int> loads(5, 0);
  std::vector<int> hist(5, 0);
  for (int i = 0; i < 50000; ++i) {
    auto x = plainrandom(loads, a);
    ASSERT_EQ(x, plainrandom(loads, b));  // same seed, same choices
    ++hist[x];
  }
  for (int h : hist) EXPECT_NEAR(h / 50000.0, 0.2, 0.02);
}

TEST(Policies, WeightedAvoidsLoadedEngines) {
  Rng rng(3);
  std::vector<int> loads{4, 0, 4, 4};
  int idle = 0;
  for (int i = 0; i < 1000; ++i) idle += weighted(loads, rng) == 1 ? 1 : 0;
  EXPECT_GT(idle, 990);  // weight of an idle engine is 1e6 x that of a loaded one
  std::vector<int> even{1, 1};
  int first = 0;
  for (int i = 0; i < 10000; ++i) first += weighted(even, rng) == 0 ? 1 : 0;
  EXPECT_NEAR(first / 10000.0, 0.5, 0.03);
  std::vector<int> one{7};
  EXPECT_EQ(weighted(one, rng), 0u);
}

TEST(Policies, ChooseDispatches) {
  Rng rng(1);
  std::vector<int> loads{2, 0, 1};
  EXPECT_EQ(choose(Scheme::LeastLoad, loads, rng), 1u);
  EXPECT_EQ(choose(Scheme::Lru, loads, rng), 0u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_LT(choose(Scheme::TwoBin, loads, rng), 3u);
    EXPECT_LT(choose(Scheme::PlainRandom, loads, rng), 3u);
    EXPECT_LT(choose(Scheme::Weighted, loads, rng), 3u);
  }
}
