#include "moeplan/analysis/coverage.hpp"

#include <algorithm>
#include <functional>

#include "analysis/stats.hpp"

namespace moeplan::analysis {

double top_per_row_coverage(const std::vector<std::uint64_t>& matrix, int rows, int cols, int top) {
  std::vector<std::uint64_t> row(static_cast<std::size_t>(cols));
  top = std::clamp(top, 0, cols);
  std::uint64_t covered = 0, total = 0;
  for (int a = 0; a < rows; ++a) {
    auto begin = matrix.begin() + static_cast<std::ptrdiff_t>(a) * cols;
    std::uint64_t sum = 0;
    int nonzero = 0;
    for (auto it = begin; it != begin + cols; ++it) sum += *it, nonzero += *it != 0;
    total += sum;
    // Transition rows are sparse: with at most `top` non-zero entries the row is covered whole.
    if (nonzero <= top) {
      covered += sum;
      continue;
    }
    std::copy(begin, begin + cols, row.begin());
    std::nth_element(row.begin(), row.begin() + top, row.end(), std::greater<>());
    for (int i = 0; i < top; ++i) covered += row[static_cast<std::size_t>(i)];
  }
  return total == 0 ? 0.0 : static_cast<double>(covered) / static_cast<double>(total);
}

void add_layer_transitions(const trace::TraceSet& set, int from, int to, std::vector<std::uint64_t>& m) {
  const int E = set.model.num_experts, K = set.model.top_k;
  const std::size_t per_token = set.ids_per_token();
  const std::uint64_t tokens = set.num_tokens();
  set.ids.visit([&](auto ids) {
    const auto* a = ids.data() + static_cast<std::size_t>(from) * K;
    const auto* b = ids.data() + static_cast<std::size_t>(to) * K;
    for (std::uint64_t t = 0; t < tokens; ++t, a += per_token, b += per_token)
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) ++m[static_cast<std::size_t>(a[i]) * E + b[j]];
  });
}

void add_token_transitions(const trace::TraceSet& set, int layer, std::vector<std::uint64_t>& m) {
  const int E = set.model.num_experts, K = set.model.top_k;
  const std::size_t per_token = set.ids_per_token();
  set.ids.visit([&](auto ids) {
    for (const trace::Request& q : set.requests) {
      if (q.tokens() < 2) continue;
      const auto* prev = ids.data() + q.token_offset * per_token + static_cast<std::size_t>(layer) * K;
      for (std::uint64_t t = 1; t < q.tokens(); ++t, prev += per_token) {
        const auto* cur = prev + per_token;
        for (int i = 0; i < K; ++i)
          for (int j = 0; j < K; ++j) ++m[static_cast<std::size_t>(prev[i]) * E + cur[j]];
      }
    }
  });
}

Coverage compute_coverage(const trace::TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts;
  const int top = E / 5;  // floor(0.2 E), exactly, for integer E
  // Task j < L-1: the layer pair (j, j+1). Task L-1+l: consecutive tokens at layer l.
  const int tasks = 2 * L - 1;
  Coverage c;
  c.layer_pairs.assign(static_cast<std::size_t>(std::max(L - 1, 0)), 0.0);
  c.token_layers.assign(static_cast<std::size_t>(L), 0.0);
#pragma omp parallel
  {
    std::vector<std::uint64_t> m(static_cast<std::size_t>(E) * E);
#pragma omp for schedule(dynamic, 1)
    for (int j = 0; j < tasks; ++j) {
      std::fill(m.begin(), m.end(), 0);
      if (j < L - 1) {
        add_layer_transitions(set, j, j + 1, m);
        c.layer_pairs[static_cast<std::size_t>(j)] = top_per_row_coverage(m, E, E, top);
      } else {
        add_token_transitions(set, j - (L - 1), m);
        c.token_layers[static_cast<std::size_t>(j - (L - 1))] = top_per_row_coverage(m, E, E, top);
      }
    }
  }
  c.layer_mean = detail::mean(c.layer_pairs);
  c.token_mean = detail::mean(c.token_layers);
  return c;
}

nlohmann::ordered_json layer_coverage_json(const Coverage& c) {
  return {{"per_pair", c.layer_pairs}, {"mean", c.layer_mean}};
}

nlohmann::ordered_json token_coverage_json(const Coverage& c) {
  return {{"per_layer", c.token_layers}, {"mean", c.token_mean}};
}

}  // namespace moeplan::analysis
