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

// Transition counts T[a][b] (E x E, row-major, [from][to]) added to `m`:
// across one token's MoE layers (from, to), all k x k pairs ...
void add_layer_transitions(const trace::TraceSet& set, int from, int to, std::vector<std::uint64_t>& m);
// ... and across consecutive tokens (t, t+1) of one request at one layer.
void add_token_transitions(const trace::TraceSet& set, int layer, std::vector<std::uint64_t>& m);

// Both coverages: parallel over the 2L-1 matrices, each counted by one thread into that
// thread's reused E x E buffer (memory threads x E^2, not layers x E^2), so results do not
// depend on the thread count.
Coverage compute_coverage(const trace::TraceSet& set);

// The share of a transition matrix's mass (rows x cols, row-major) held by the `top`
// largest entries of each row.
double top_per_row_coverage(const std::vector<std::uint64_t>& matrix, int rows, int cols, int top);

nlohmann::ordered_json layer_coverage_json(const Coverage& c);
nlohmann::ordered_json token_coverage_json(const Coverage& c);

}  // namespace moeplan::analysis
