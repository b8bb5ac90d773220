// moeplan::placement — the `locality` algorithm (docs/locality.md): place experts so that the
// tokens of a fit trace reach as few remote nodes as possible, under a GPU load-balance bound.
// Owns: the per-layer hypergraph model (experts = vertices weighted by load, each distinct
// top-k set = one weighted hyperedge with per-home-node token counts), its METIS initial
// partition (co-activation graph), our FM refinement on the exact (lambda - 1) objective and
// the node -> GPU mapping. Reads the trace and the request homes; never writes files.
#pragma once

#include <cstdint>
#include <span>

#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

// How the fit trace's request homes enter the objective.
//   exact: the sends of these very homes (right when homes follow routing, e.g. grouping);
//   independent: homes independent of routing (round-robin), so the expected sends over the
//     fit trace's home distribution: placements then do not chase the accidental homes of
//     the fit requests, which held-out requests will not share. On DeepSeek-V2-Lite 4 x 4
//     held-out it measured the same as exact (docs/locality.md).
enum class HomeModel { exact, independent };

struct LocalityOptions {
  double max_imbalance = 1.10;  // bound on max/mean GPU load per layer (fit-trace loads), >= 1
  std::uint64_t seed = 0;       // METIS seeds and the perturbation restarts derive from it
  int fm_passes = 8;            // FM passes per start (a pass stops early without improvement)
  int restarts = 12;            // perturbed restarts from the best partition, per layer
  bool use_metis_init = true;   // false: start from the contiguous partition only
  HomeModel home_model = HomeModel::exact;
  // Hyperedges are built from a uniform sample of at most this many tokens per layer (every
  // ceil(T / max_tokens)-th token); loads and the reported objectives use every token. 0: all.
  std::size_t max_tokens = 8192;
  trace::Progress progress;     // layers done / layers; may be empty
};

// One layer's objective: inter-node sends with node-level dedup, i.e. the sum over tokens of
// (number of distinct nodes among the token's experts and its home node) - 1.
// part[e] is expert e's node. Used by tests and by the provenance.
std::uint64_t locality_layer_objective(const trace::TraceSet& set, int layer,
                                       std::span<const int> expert_node, const Cluster& c,
                                       const Homes& homes);

// Each expert exactly once per layer; spare slots (c.slots() > E) stay -1. Deterministic for
// a seed and identical for any thread count (layers run in parallel, each independently).
// Throws Error{infeasible} when c.slots() < E, Error{bad_input} when homes do not match the
// trace or the cluster, Error{usage} for a bad option.
Placement locality_placement(const trace::TraceSet& fit, const Cluster& c, const Homes& homes,
                             const LocalityOptions& o = {});

}  // namespace moeplan::placement
