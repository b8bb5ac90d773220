// Internal: SynthParams compiled into the tables the generator samples from.
#pragma once

#include <cstdint>
#include <vector>

#include "moeplan/trace/synth.hpp"

namespace moeplan::trace::synth {

struct Model {
  int domains = 0, layers = 0, experts = 0, top_k = 0;
  // Per distribution (domain, phase, layer): normalised weights and a Walker alias table
  // (O(1) draws). Index of expert e: dist(d, ph, l) + e. A draw picks cell c uniformly and
  // keeps c when 32 random bits are below its threshold, else takes its `other`.
  std::vector<double> weights;
  struct AliasCell {
    std::uint32_t threshold, other;
  };
  std::vector<AliasCell> alias;
  // Affinity partners of expert a at layer l (transition l -> l+1) in (domain, phase): entries
  // [aff_begin[i], aff_begin[i+1]) of `partners` and `aff_p`, i = aff_row(d, ph, l, a). Each row is
  // an alias table over its entries (O(1) draws, whatever the row length; `alias` is relative
  // to the row's first entry) packed into 8 bytes per entry: rows are picked at random per
  // token-layer, so the generator's time goes into cache misses on them, one line per short row.
  // aff_p: the partners' probabilities (normalised within the row), for exact draws.
  struct Partner {
    std::uint32_t threshold;
    std::uint16_t alias, expert;  // experts <= 65535 (validated), so row lengths are too
  };
  std::vector<std::uint32_t> aff_begin;
  std::vector<Partner> partners;
  std::vector<double> aff_p;
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
