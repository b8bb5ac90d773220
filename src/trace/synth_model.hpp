// Internal: SynthParams compiled into the tables the generator samples from.
#pragma once

#include <cstdint>
#include <vector>

#include "moeplan/trace/synth.hpp"

namespace moeplan::trace::synth {

struct Model {
  int domains = 0, layers = 0, experts = 0, top_k = 0;
  // Per distribution (domain, phase, layer): normalised weights and a Walker alias table
  // (O(1) draws). Index of expert e: dist(d, ph, l) + e.
  std::vector<double> weights;
  std::vector<std::uint32_t> alias_threshold;  // keep e when the low 32 bits are below this
  std::vector<std::uint32_t> alias_other;
  // Affinity partners of expert a at layer l (transition l -> l+1) in (domain, phase): entries
  // [aff_begin[i], aff_begin[i+1]) of aff_to / aff_cum (cumulative, scaled to 2^32), where
  // i = aff_row(d, ph, l, a).
  std::vector<std::uint32_t> aff_begin;
  std::vector<std::uint32_t> aff_to;
  std::vector<std::uint64_t> aff_cum;
  // Thresholds on 32-bit draws: a token-layer copies the previous token's set below `stick`;
  // a slot follows the affinity map below `aff`.
  std::uint64_t stick = 0, aff = 0;

  std::size_t aff_row(std::uint32_t d, int phase, int l, std::uint32_t a) const {
    return ((static_cast<std::size_t>(d) * 2 + static_cast<std::size_t>(phase)) * (layers - 1) + l) * experts + a;
  }
  std::size_t dist(std::uint32_t d, int phase, int l) const {
    return ((static_cast<std::size_t>(d) * 2 + static_cast<std::size_t>(phase)) * layers + l) * experts;
  }
};

// The [domain][phase][layer][expert] popularity the parameters describe (fitted or parametric),
// before decode_mix.
std::vector<double> popularity_of(const SynthParams& p);

// The affinity map the parameters describe (fitted or parametric).
std::vector<std::vector<std::pair<int, double>>> affinity_of(const SynthParams& p,
                                                             const std::vector<double>& popularity);

Model build_model(const SynthParams& p);

}  // namespace moeplan::trace::synth
