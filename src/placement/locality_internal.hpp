// Internals of the `locality` placement (include/moeplan/placement/locality.hpp), one file per
// job: locality_hypergraph.cpp (merged hyperedges), locality_metis.cpp (initial partition),
// locality_fm.cpp (refinement on the exact objective), locality_gpu_map.cpp (node -> GPUs),
// locality.cpp (the per-layer driver).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "moeplan/placement/placement.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement::locality_detail {

// One MoE layer as a hypergraph. Every distinct set of experts chosen by some token is one
// hyperedge; away[h * nodes + p] counts its tokens whose home is NOT node p. The cost of h is
// the sum of away[h][p] over the nodes p holding at least one of its experts: each such node
// other than a token's home receives exactly one (deduplicated) send from that token.
struct Hypergraph {
  int vertices = 0;
  int nodes = 0;
  std::vector<std::uint32_t> edge_begin;  // edges + 1 offsets into pins
  std::vector<std::uint16_t> pins;        // expert ids, ascending within an edge
  std::vector<std::int64_t> tokens;       // tokens per edge
  std::vector<std::int64_t> away;         // edges * nodes
  std::vector<std::uint32_t> vertex_begin;  // vertices + 1 offsets into vertex_edges
  std::vector<std::uint32_t> vertex_edges;  // incident edges of each vertex
  std::vector<std::int64_t> load;         // tokens selecting each vertex
  std::int64_t total_tokens = 0;

  int edges() const { return static_cast<int>(tokens.size()); }
  std::span<const std::uint16_t> edge(int h) const {
    return {pins.data() + edge_begin[h], pins.data() + edge_begin[h + 1]};
  }
  std::span<const std::uint32_t> incident(int v) const {
    return {vertex_edges.data() + vertex_begin[v], vertex_edges.data() + vertex_begin[v + 1]};
  }
};

// token_home_node[t]: home node of every token of the set. sample_stride > 1 builds the
// hyperedges from every sample_stride-th token only (a uniform sample: the partition's cost
// scales with the hyperedges), while vertex loads still count every token. independent_homes: a token's home
// is taken as independent of its routing (round-robin homes), so away[h][p] becomes the
// expectation tokens[h] * (T - T_p) (T_p: tokens homed on p; scaled by T to stay integral)
// and the objective is T times the expected sends rather than the sends of these homes.
Hypergraph build_layer_hypergraph(const trace::TraceSet& set, int layer,
                                  std::span<const std::uint8_t> token_home_node, int nodes,
                                  bool independent_homes = false, std::size_t sample_stride = 1);

// Exact sends of one layer (tokens x distinct non-home nodes) by a direct pass over the trace.
std::int64_t exact_sends(const trace::TraceSet& set, int layer,
                         std::span<const std::uint8_t> token_home_node, std::span<const int> part,
                         int nodes);

// Exact objective of a partition (part[v] = node of v).
std::int64_t objective(const Hypergraph& g, std::span<const int> part);

// METIS (k-way, co-activation graph, constraints: load and vertex count) partition into
// g.nodes parts; empty when METIS fails (the caller falls back). Serialised internally.
std::vector<int> metis_partition(const Hypergraph& g, double load_slack, int seed);

// Balance and capacity limits of a layer's node partition.
struct Limits {
  int node_capacity = 0;          // experts per node (gpus_per_node * slots_per_gpu)
  std::int64_t node_load_bound = 0;  // max tokens per node
};

struct RefineStats {
  std::int64_t objective = 0;
  int passes = 0;
  bool balanced = false;  // every node within node_load_bound
};

// Makes part respect the node capacity (always) and the load bound (as far as possible), then
// runs FM passes (vertex moves and swaps, exact gains, best-prefix rollback). part in/out.
RefineStats refine(const Hypergraph& g, std::vector<int>& part, const Limits& lim, int passes);

// Maps each node's experts onto its GPUs (capacity slots_per_gpu each), balancing GPU load:
// returns the layer's slot -> expert row (spare slots -1).
std::vector<std::int32_t> map_to_gpus(const Hypergraph& g, std::span<const int> part,
                                      const Cluster& c);

// Last resort when the node partition could not be mapped within the bound: swaps across
// all GPUs (any node) that lower the busiest GPU, ignoring traffic, until within the bound.
void rebalance_gpus(const Hypergraph& g, std::vector<std::int32_t>& row, const Cluster& c,
                    double max_imbalance);

// max / mean GPU load of a slot row (1 when the layer carries no load).
double gpu_imbalance(const Hypergraph& g, std::span<const std::int32_t> row, const Cluster& c);

}  // namespace moeplan::placement::locality_detail
