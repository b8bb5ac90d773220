// moeplan::placement — the load-oblivious and load-balancing baselines: contiguous (the
// engines' default), round-robin, random, greedy. Each places every expert exactly once per
// layer and leaves spare slots empty (-1) for the replication step (replicate.hpp).
#pragma once

#include <cstdint>

#include "moeplan/placement/placement.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

// Per-layer expert loads (token-layer selections, all phases) of a trace.
ExpertLoads loads_from_trace(const trace::TraceSet& set);

// Expert e on GPU floor(e * gpus / E): E/gpus consecutive experts per GPU when it divides.
Placement contiguous_placement(const Cluster& c, int experts, int layers);
// Expert e on GPU e % gpus.
Placement round_robin_placement(const Cluster& c, int experts, int layers);
// A seeded shuffle of the experts per layer, then laid out contiguously.
Placement random_placement(const Cluster& c, int experts, int layers, std::uint64_t seed);
// Per layer: experts by load, largest first (ties: lower id), each onto the GPU with the
// least load that still has a free slot (ties: lower GPU).
Placement greedy_placement(const ExpertLoads& loads, const Cluster& c);

// Sets moe_layer_ids / model_layers of p from the trace's model facts.
void adopt_layer_ids(Placement& p, const trace::ModelInfo& model);

}  // namespace moeplan::placement
