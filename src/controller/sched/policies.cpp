#include "ipp/controller/sched/policies.hpp"

#include <algorithm>
#include <vector>

namespace ipp::controller::sched {

std::optional<Scheme> parse_scheme(std::string_view name) {
  if (name == "leastload") return Scheme::LeastLoad;
  if (name == "lru") return Scheme::Lru;
  if (name == "twobin") return Scheme::TwoBin;
  if (name == "plainrandom") return Scheme::PlainRandom;
  if (name == "weighted") return Scheme::Weighted;
  return std::nullopt;
}

std::string_view to_string(Scheme scheme) {
  switch (scheme) {
    case Scheme::LeastLoad: return "leastload";
    case Scheme::Lru: return "lru";
    case Scheme::TwoBin: return "twobin";
    case Scheme::PlainRandom: return "plainrandom";
    case Scheme::Weighted: return "weighted";
  }
  return "leastload";
}

std::size_t leastload(std::span<const int> loads) {
  return static_cast<std::size_t>(std::min_element(loads.begin(), loads.end()) - loads.begin());
}

std::size_t lru(std::span<const int> /*loads*/) { return 0; }

namespace {
std::size_t uniform_index(std::size_t n, Rng& rng) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
}
}  // namespace

std::size_t twobin(std::span<const int> loads, Rng& rng) {
  const std::size_t a = uniform_index(loads.size(), rng);
  const std::size_t b = uniform_index(loads.size(), rng);
  return std::min(a, b);
}

std::size_t plainrandom(std::span<const int> loads, Rng& rng) {
  return uniform_index(loads.size(), rng);
}

std::size_t weighted(std::span<const int> loads, Rng& rng) {
  // Weight an idle engine a million times more than one with a single task, like Python.
  thread_local std::vector<double> sums;
  sums.resize(loads.size());
  double total = 0.0;
  for (std::size_t i = 0; i < loads.size(); ++i) {
    total += 1.0 / (1e-6 + loads[i]);
    sums[i] = total;
  }
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto draw = [&] {
    const double x = unit(rng) * total;
    auto it = std::lower_bound(sums.begin(), sums.end(), x);  // first cumulative sum >= x
    if (it == sums.end()) --it;
    return static_cast<std::size_t>(it - sums.begin());
  };
  const std::size_t x = draw();
  const std::size_t y = draw();
  return (1.0 / (1e-6 + loads[y]) > 1.0 / (1e-6 + loads[x])) ? y : x;
}

std::size_t choose(Scheme scheme, std::span<const int> loads, Rng& rng) {
  switch (scheme) {
    case Scheme::LeastLoad: return leastload(loads);
    case Scheme::Lru: return lru(loads);
    case Scheme::TwoBin: return twobin(loads, rng);
    case Scheme::PlainRandom: return plainrandom(loads, rng);
    case Scheme::Weighted: return weighted(loads, rng);
  }
  return 0;
}

}  // namespace ipp::controller::sched
