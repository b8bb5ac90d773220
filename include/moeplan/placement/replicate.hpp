// moeplan::placement — replication into spare slots, where remote demand is highest.
// Reads a trace (the fitting requests) and their homes; fills the empty slots of a Placement.
#pragma once

#include <cstdint>
#include <vector>

#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

struct ReplicaAdded {
  int layer = 0;
  int expert = 0;
  int gpu = 0;
  // Top-k choices of the fitting trace, homed on this GPU's node, that reached this expert on
  // another node before the replica: the per-expert inter-node sends it saves on that trace.
  std::uint64_t remote_demand = 0;
};

// remote demand[layer][node][expert]: top-k choices of requests homed on `node`.
std::vector<std::uint64_t> node_demand(const trace::TraceSet& set, const Cluster& c, const Homes& homes);

// Fills every empty slot of p. Per layer, repeatedly takes the (node with a free slot, expert
// not yet on that node) pair of largest demand (ties: lower node, then lower expert) and puts
// the replica on that node's GPU with a free slot and the least estimated load. When no
// remote demand is left, the free slot takes the node's most demanded expert not yet on its
// GPU. Returns the replicas in the order added. Deterministic; identical for any thread count.
std::vector<ReplicaAdded> fill_spare_slots(Placement& p, const trace::TraceSet& fit, const Homes& homes);

}  // namespace moeplan::placement
