// moeplan::analysis — which experts a token selects together (oracle key `coactivation`,
// only defined for top-k > 1): per layer, how concentrated the unordered pair counts are.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

struct Coactivation {
  std::vector<double> top10_pair_share, max_lift;  // one per MoE layer
  double top10_pair_share_mean = 0, max_lift_mean = 0;
};

// Unordered pair counts of one layer, upper triangle row-major: the pair {a,b}, a < b, sits
// at pair_index(E, a, b). E(E-1)/2 counts.
inline std::size_t pair_index(int E, int a, int b) {
  const auto A = static_cast<std::size_t>(a);
  return A * (2 * static_cast<std::size_t>(E) - A - 1) / 2 + static_cast<std::size_t>(b - a - 1);
}
std::vector<std::uint64_t> count_pairs(const trace::TraceSet& set, int layer);

// Parallel over layers, one reused pair buffer per thread (memory threads x E^2/2, not
// layers x E^2/2); every layer is counted by one thread, so results do not depend on the
// thread count. Precondition: top_k > 1.
Coactivation compute_coactivation(const trace::TraceSet& set);

nlohmann::ordered_json to_json(const Coactivation& c);

}  // namespace moeplan::analysis
