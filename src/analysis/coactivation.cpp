#include "moeplan/analysis/coactivation.hpp"

#include <algorithm>
#include <functional>

#include "analysis/stats.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::analysis {
namespace {

// Adds the pairs of every token's set at `layer` to `pairs` (zeroed by the caller).
void add_pairs(const trace::TraceSet& set, int layer, std::vector<std::uint64_t>& pairs) {
  const int E = set.model.num_experts, K = set.model.top_k;
  const std::size_t per_token = set.ids_per_token();
  const std::uint64_t tokens = set.num_tokens();
  // row[a] + b = pair_index(E, a, b) for b > a: saves the index arithmetic per pair.
  std::vector<std::size_t> row(static_cast<std::size_t>(E));
  for (int a = 0; a + 1 < E; ++a) row[static_cast<std::size_t>(a)] = pair_index(E, a, a + 1) - static_cast<std::size_t>(a + 1);
  set.ids.visit([&](auto ids) {
    const auto* s = ids.data() + static_cast<std::size_t>(layer) * K;
    for (std::uint64_t t = 0; t < tokens; ++t, s += per_token)
      for (int i = 0; i < K; ++i)
        for (int j = i + 1; j < K; ++j) {
          const int a = s[i], b = s[j];
          // Importers reject repeated ids in a set; a repeat would not be a pair anyway.
          if (a != b) ++pairs[row[static_cast<std::size_t>(std::min(a, b))] + static_cast<std::size_t>(std::max(a, b))];
        }
  });
}

}  // namespace

std::vector<std::uint64_t> count_pairs(const trace::TraceSet& set, int layer) {
  const auto E = static_cast<std::size_t>(set.model.num_experts);
  std::vector<std::uint64_t> pairs(E * (E - 1) / 2, 0);
  add_pairs(set, layer, pairs);
  return pairs;
}

Coactivation compute_coactivation(const trace::TraceSet& set) {
  if (set.model.top_k < 2) throw Error(ErrorKind::internal, {}, "co-activation needs top_k > 1");
  const int L = set.model.moe_layers();
  const auto E = static_cast<std::size_t>(set.model.num_experts);
  const std::size_t n_pairs = E * (E - 1) / 2;
  const std::size_t top = n_pairs / 10;  // floor(0.1 E(E-1)/2), zero-count pairs included
  Coactivation c;
  c.top10_pair_share.assign(static_cast<std::size_t>(L), 0.0);
  c.max_lift.assign(static_cast<std::size_t>(L), 0.0);
#pragma omp parallel
  {
    std::vector<std::uint64_t> pairs(n_pairs);
#pragma omp for schedule(dynamic, 1)
    for (int l = 0; l < L; ++l) {
      std::fill(pairs.begin(), pairs.end(), 0);
      add_pairs(set, l, pairs);
      std::uint64_t total = 0, mx = 0;
      for (auto v : pairs) total += v, mx = std::max(mx, v);
      std::nth_element(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(top), pairs.end(),
                       std::greater<>());
      std::uint64_t covered = 0;
      for (std::size_t i = 0; i < top; ++i) covered += pairs[i];
      const auto l_ = static_cast<std::size_t>(l);
      // A layer without pairs (no tokens) reports 0 rather than 0/0.
      if (total > 0) {
        c.top10_pair_share[l_] = static_cast<double>(covered) / static_cast<double>(total);
        // max / (total * 2 / (E(E-1))) = max * n_pairs / total
        c.max_lift[l_] = static_cast<double>(mx) * static_cast<double>(n_pairs) / static_cast<double>(total);
      }
    }
  }
  c.top10_pair_share_mean = detail::mean(c.top10_pair_share);
  c.max_lift_mean = detail::mean(c.max_lift);
  return c;
}

nlohmann::ordered_json to_json(const Coactivation& c) {
  return {{"top10_pair_share", c.top10_pair_share},
          {"max_lift", c.max_lift},
          {"top10_pair_share_mean", c.top10_pair_share_mean},
          {"max_lift_mean", c.max_lift_mean}};
}

}  // namespace moeplan::analysis
