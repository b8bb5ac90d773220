#include "moeplan/analysis/coverage.hpp"

#include <algorithm>
#include <functional>

#include "analysis/stats.hpp"

namespace moeplan::analysis {
namespace {

// Requests are processed in blocks of about this many tokens: small enough that a block's
// routing stays in cache while every layer (pair) task re-reads it.
constexpr std::uint64_t kBlockTokens = 8192;

struct Block {
  std::size_t first, last;  // requests [first, last)
};

std::vector<Block> request_blocks(const trace::TraceSet& set) {
  std::vector<Block> blocks;
  std::size_t first = 0;
  std::uint64_t tokens = 0;
  for (std::size_t r = 0; r < set.requests.size(); ++r) {
    tokens += set.requests[r].tokens();
    if (tokens >= kBlockTokens) {
      blocks.push_back({first, r + 1});
      first = r + 1, tokens = 0;
    }
  }
  if (first < set.requests.size()) blocks.push_back({first, set.requests.size()});
  return blocks;
}

}  // namespace

double top_per_row_coverage(const std::vector<std::uint64_t>& matrix, int rows, int cols, int top) {
  std::vector<std::uint64_t> row(static_cast<std::size_t>(cols));
  top = std::clamp(top, 0, cols);
  std::uint64_t covered = 0, total = 0;
  for (int a = 0; a < rows; ++a) {
    auto begin = matrix.begin() + static_cast<std::ptrdiff_t>(a) * cols;
    std::copy(begin, begin + cols, row.begin());
    for (auto v : row) total += v;
    std::nth_element(row.begin(), row.begin() + top, row.end(), std::greater<>());
    for (int i = 0; i < top; ++i) covered += row[static_cast<std::size_t>(i)];
  }
  return total == 0 ? 0.0 : static_cast<double>(covered) / static_cast<double>(total);
}

Transitions count_transitions(const trace::TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  const std::size_t per_token = set.ids_per_token();
  const std::size_t cells = static_cast<std::size_t>(E) * E;
  // Task j < L-1: the layer pair (j, j+1). Task L-1+l: consecutive tokens at layer l.
  // Each matrix belongs to one task, so tasks never share a counter.
  const int tasks = 2 * L - 1;
  std::vector<std::vector<std::uint64_t>> mats(static_cast<std::size_t>(tasks), std::vector<std::uint64_t>(cells, 0));
  const std::vector<Block> blocks = request_blocks(set);

  set.ids.visit([&](auto ids) {
    const auto* all = ids.data();
#pragma omp parallel
    for (const Block& b : blocks) {
      const std::uint64_t t0 = set.requests[b.first].token_offset;
      const std::uint64_t t1 = set.requests[b.last - 1].token_offset + set.requests[b.last - 1].tokens();
#pragma omp for schedule(dynamic, 1)
      for (int j = 0; j < tasks; ++j) {
        std::uint64_t* m = mats[static_cast<std::size_t>(j)].data();
        if (j < L - 1) {
          for (std::uint64_t t = t0; t < t1; ++t) {
            const auto* s = all + t * per_token + static_cast<std::size_t>(j) * K;
            for (int a = 0; a < K; ++a)
              for (int c = 0; c < K; ++c) ++m[static_cast<std::size_t>(s[a]) * E + s[K + c]];
          }
        } else {
          const int l = j - (L - 1);
          for (std::size_t r = b.first; r < b.last; ++r) {
            const trace::Request& q = set.requests[r];
            for (std::uint64_t t = q.token_offset + 1; t < q.token_offset + q.tokens(); ++t) {
              const auto* prev = all + (t - 1) * per_token + static_cast<std::size_t>(l) * K;
              const auto* cur = prev + per_token;
              for (int a = 0; a < K; ++a)
                for (int c = 0; c < K; ++c) ++m[static_cast<std::size_t>(prev[a]) * E + cur[c]];
            }
          }
        }
      }  // implicit barrier: the next block starts when this one is done
    }
  });

  Transitions out;
  out.experts = E;
  for (int j = 0; j < tasks; ++j)
    (j < L - 1 ? out.layer_pairs : out.token_layers).push_back(std::move(mats[static_cast<std::size_t>(j)]));
  return out;
}

Coverage compute_coverage(const trace::TraceSet& set) {
  const Transitions m = count_transitions(set);
  const int E = m.experts;
  const int top = E / 5;  // floor(0.2 E), exactly, for integer E
  Coverage c;
  for (const auto& t : m.layer_pairs) c.layer_pairs.push_back(top_per_row_coverage(t, E, E, top));
  for (const auto& t : m.token_layers) c.token_layers.push_back(top_per_row_coverage(t, E, E, top));
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
