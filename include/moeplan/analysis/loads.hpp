// moeplan::analysis — expert load matrices: how many token-layers selected each expert.
// Owns the one streaming pass that every load-based metric (imbalance, prefill/decode) reads.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

enum class PhaseSel { prefill = 0, decode = 1, all = 2 };
const char* phase_sel_name(PhaseSel p);

// counts[layer][expert], layers in ascending MoE-layer order.
struct LoadMatrix {
  int layers = 0;
  int experts = 0;
  std::vector<std::uint64_t> counts;  // layers * experts

  std::span<const std::uint64_t> layer(int l) const {
    return {counts.data() + static_cast<std::size_t>(l) * experts, static_cast<std::size_t>(experts)};
  }
  std::uint64_t total() const;
};

struct PhaseLoads {
  LoadMatrix prefill, decode, all;
  const LoadMatrix& operator[](PhaseSel p) const {
    return p == PhaseSel::prefill ? prefill : p == PhaseSel::decode ? decode : all;
  }
};

// One pass over the routing, parallel over requests; identical for any thread count.
PhaseLoads compute_loads(const trace::TraceSet& set);

}  // namespace moeplan::analysis
