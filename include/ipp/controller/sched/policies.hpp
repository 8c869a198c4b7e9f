#pragma once
// Engine-choice policies of the task scheduler (ipyparallel controller/task_scheduler.py "chooser
// functions"). Each takes the loads of the candidate engines in LRU order (least recently used
// first) and returns the index of the chosen one. Pure functions; the random ones draw from an
// injected generator so tests and benchmarks are reproducible. `loads` must not be empty.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string_view>

namespace ipp::controller::sched {

// "pure" (zmq round robin) and "none" (no scheduler) are not policies: the caller handles them.
enum class Scheme { LeastLoad, Lru, TwoBin, PlainRandom, Weighted };

using Rng = std::mt19937_64;

// "leastload", "lru", "twobin", "plainrandom", "weighted"; nullopt for anything else.
std::optional<Scheme> parse_scheme(std::string_view name);
std::string_view to_string(Scheme scheme);

// First engine with the minimum load (ties go to the least recently used).
std::size_t leastload(std::span<const int> loads);
// The least recently used engine; loads are ignored.
std::size_t lru(std::span<const int> loads);
// Two uniform random indices, the smaller one (the less recently used of the two).
std::size_t twobin(std::span<const int> loads, Rng& rng);
// Uniform random index.
std::size_t plainrandom(std::span<const int> loads, Rng& rng);
// Two samples weighted by 1/(1e-6+load); the one with the higher weight (the first on ties).
std::size_t weighted(std::span<const int> loads, Rng& rng);

std::size_t choose(Scheme scheme, std::span<const int> loads, Rng& rng);

}  // namespace ipp::controller::sched
