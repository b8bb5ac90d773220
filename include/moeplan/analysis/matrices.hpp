// moeplan::analysis — the count matrices behind the figures users plot: expert load per
// layer (per phase), one layer-to-layer transition matrix, one layer's co-activation matrix.
// Only built when asked for (`moeplan analyze --matrices DIR` / `--matrices-json`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "moeplan/analysis/loads.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

struct MatrixOptions {
  // Layer positions (0-based in the MoE-layer list). Transition default: (0, 1).
  std::optional<int> from_layer, to_layer;
  int coactivation_layer = 0;
};

struct Matrices {
  int experts = 0;
  std::vector<int> moe_layer_ids;
  PhaseLoads loads;
  bool has_phase[3] = {false, false, false};  // phases with tokens (PhaseSel order)
  // T[a][b] = tokens with a at from_layer and b at to_layer (E x E, row-major); absent when
  // the trace has one MoE layer.
  std::optional<int> from_layer, to_layer;
  std::vector<std::uint64_t> transition;
  // Symmetric E x E pair counts, zero diagonal; absent when top_k == 1.
  std::optional<int> coactivation_layer;
  std::vector<std::uint64_t> coactivation;
};

// Throws Error{usage} for a layer position out of range or from_layer == to_layer.
void check_matrix_options(const MatrixOptions& options, int moe_layers);

// Checks the options as above.
Matrices compute_matrices(const trace::TraceSet& set, const PhaseLoads& loads, const MatrixOptions& options);

// {"moe_layer_ids", "load": {phase: [[...] per layer]}, "transition": {"from_layer",
// "to_layer", "counts"}, "coactivation": {"layer", "counts"}}.
nlohmann::ordered_json to_json(const Matrices& m);

// Writes load_<phase>.csv, transition_<from>_<to>.csv and coactivation_<layer>.csv into
// `dir` (created if missing), each atomically. Returns the paths written.
std::vector<std::string> write_matrices_csv(const Matrices& m, const std::string& dir);

}  // namespace moeplan::analysis
