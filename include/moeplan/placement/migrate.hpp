// moeplan::placement — staying close to an existing placement (migration cost).
// Given a new placement and the previous one, first relabels for free (slot order inside a
// GPU, GPU order inside a node: neither changes inter-node traffic or the load spread), then,
// with a move cost C > 0, undoes moves whose traffic benefit on the fitting trace is below C
// inter-node sends per expert kept in place. Never raises a layer's busiest-GPU load.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

struct MigrationReport {
  std::int64_t experts_moved = 0;   // (GPU, expert) pairs in the new placement not in the previous one
  std::int64_t moved_before = 0;    // the same before relabelling and undoing
  std::int64_t moves_undone = 0;    // moves the move cost reverted (by swaps)
  std::int64_t sends_added = 0;     // inter-node sends (node-level dedup, fitting trace) the undone moves cost
  double move_cost = 0;
  std::optional<double> weight_bytes_moved;  // experts_moved x one expert's weights, when known
  std::vector<std::int64_t> moved_per_layer;
};

// Counts (GPU, expert) pairs of `now` that `before` does not have, per layer.
std::vector<std::int64_t> moved_experts(const Placement& now, const Placement& before);

// Mutates p; previous must have p's cluster, layers and experts (Error{bad_input} otherwise).
MigrationReport reduce_moves(Placement& p, const Placement& previous, const trace::TraceSet& fit, const Homes& homes,
                             double move_cost);

nlohmann::json to_json(const MigrationReport& r);

}  // namespace moeplan::placement
