// Internal: the synthetic generator's random numbers. xoshiro256** seeded through splitmix64,
// so every (seed, stream) pair gets an independent, reproducible sequence.
#pragma once

#include <cmath>
#include <cstdint>

namespace moeplan::trace::synth {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // Streams are separated by a salt (what the numbers are for) and an index (e.g. request).
  Rng(std::uint64_t seed, std::uint64_t salt, std::uint64_t index) {
    std::uint64_t x = seed;
    x ^= splitmix64(x) + salt * 0xD1B54A32D192ED03ULL;
    x ^= splitmix64(x) + index * 0x8CB92BA72F3D8DD7ULL;
    for (auto& w : s_) w = splitmix64(x);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n) (multiply-shift; the bias is below 2^-32 for the n used here).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  double normal() {  // Box-Muller; only used while building the model, not per token
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Salts of the streams.
enum Salt : std::uint64_t { kSaltTokens = 1, kSaltShape = 2, kSaltModel = 3 };

}  // namespace moeplan::trace::synth
