// moeplan::analysis — how predictable the next expert is (oracle keys `layer_coverage_top20`,
// `token_coverage_top20`): the share of transitions that the floor(0.2 E) most frequent
// successors of each expert capture, across consecutive MoE layers of one token and across
// consecutive tokens of one request at one layer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

struct Coverage {
  std::vector<double> layer_pairs;  // moe_layers - 1 entries: (l, l+1)
  double layer_mean = 0;
  std::vector<double> token_layers;  // moe_layers entries
  double token_mean = 0;
};

// The transition count matrices (E x E, row-major, [from][to]) behind the coverages.
struct Transitions {
  int experts = 0;
  std::vector<std::vector<std::uint64_t>> layer_pairs;   // moe_layers - 1: tokens' (l, l+1)
  std::vector<std::vector<std::uint64_t>> token_layers;  // moe_layers: (t, t+1) at layer l
};

// Counts both kinds in one streaming pass (blocks of requests, parallel over matrices).
Transitions count_transitions(const trace::TraceSet& set);

// Both coverages from count_transitions (blocks of requests, parallel over layers).
Coverage compute_coverage(const trace::TraceSet& set);

// The share of a transition matrix's mass (rows x cols, row-major) held by the `top`
// largest entries of each row.
double top_per_row_coverage(const std::vector<std::uint64_t>& matrix, int rows, int cols, int top);

nlohmann::ordered_json layer_coverage_json(const Coverage& c);
nlohmann::ordered_json token_coverage_json(const Coverage& c);

}  // namespace moeplan::analysis
