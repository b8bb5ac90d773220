// The Placement model: shape checks, invariants, replica counts.
#include "moeplan/placement/placement.hpp"

#include <string>
#include <vector>

#include "moeplan/io/error.hpp"

namespace moeplan::placement {

int min_slots_per_gpu(int experts, int nodes, int gpus_per_node) {
  const long gpus = static_cast<long>(nodes) * gpus_per_node;
  if (gpus <= 0 || experts <= 0) return 1;
  return static_cast<int>((experts + gpus - 1) / gpus);
}

void check_cluster(const Cluster& c, int experts) {
  auto positive = [](int v, const char* flag) {
    if (v <= 0) throw Error(ErrorKind::usage, {}, std::string(flag) + " must be positive, got " + std::to_string(v));
    if (v > (1 << 20)) throw Error(ErrorKind::usage, {}, std::string(flag) + " " + std::to_string(v) + " is implausibly large");
  };
  positive(c.nodes, "--nodes");
  positive(c.gpus_per_node, "--gpus-per-node");
  positive(c.slots_per_gpu, "--slots-per-gpu");
  const long long slots = static_cast<long long>(c.nodes) * c.gpus_per_node * c.slots_per_gpu;
  if (slots > (1 << 24)) throw Error(ErrorKind::usage, {}, "the cluster has " + std::to_string(slots) + " slots per layer, more than 2^24");
  if (slots < experts)
    throw Error(ErrorKind::infeasible, {},
                std::to_string(c.nodes) + " nodes x " + std::to_string(c.gpus_per_node) + " GPUs x " +
                    std::to_string(c.slots_per_gpu) + " slots = " + std::to_string(slots) + " slots cannot hold " +
                    std::to_string(experts) + " experts (need --slots-per-gpu >= " +
                    std::to_string(min_slots_per_gpu(experts, c.nodes, c.gpus_per_node)) + ")");
}

Placement Placement::empty(const Cluster& c, int num_experts, int layers, std::string algorithm) {
  Placement p;
  p.cluster = c;
  p.num_experts = num_experts;
  p.layers = layers;
  p.slot_expert.assign(static_cast<std::size_t>(layers) * c.slots(), -1);
  p.algorithm = std::move(algorithm);
  p.moe_layer_ids.resize(layers);
  for (int l = 0; l < layers; ++l) p.moe_layer_ids[l] = l;
  return p;
}

void Placement::check(const std::string& what) const {
  auto fail = [&](const std::string& record, const std::string& field, const std::string& msg) {
    throw Error(ErrorKind::bad_input, Location{what, record, field.empty() ? "" : "field \"" + field + "\""}, msg);
  };
  if (cluster.nodes <= 0 || cluster.gpus_per_node <= 0 || cluster.slots_per_gpu <= 0)
    fail("", "cluster", "nodes, gpus_per_node and slots_per_gpu must be positive");
  if (num_experts <= 0) fail("", "num_experts", "must be positive");
  if (layers <= 0) fail("", "layers", "must be positive");
  if (cluster.slots() < num_experts)
    fail("", "cluster", std::to_string(cluster.slots()) + " slots cannot hold " + std::to_string(num_experts) + " experts");
  if (slot_expert.size() != static_cast<std::size_t>(layers) * cluster.slots())
    fail("", "slot_expert", "holds " + std::to_string(slot_expert.size()) + " entries, expected layers x slots = " +
                                std::to_string(static_cast<std::size_t>(layers) * cluster.slots()));
  if (moe_layer_ids.size() != static_cast<std::size_t>(layers))
    fail("", "moe_layer_ids", "holds " + std::to_string(moe_layer_ids.size()) + " entries, expected " + std::to_string(layers));
  std::vector<int> seen(num_experts);
  for (int l = 0; l < layers; ++l) {
    std::fill(seen.begin(), seen.end(), 0);
    auto row = layer(l);
    for (int s = 0; s < cluster.slots(); ++s) {
      const int e = row[s];
      if (e < -1 || e >= num_experts)
        fail("layer " + std::to_string(l), "slot " + std::to_string(s),
             "expert " + std::to_string(e) + " is out of range [0, " + std::to_string(num_experts) + ") (-1 = empty)");
      if (e >= 0) ++seen[e];
    }
    for (int e = 0; e < num_experts; ++e)
      if (seen[e] == 0) fail("layer " + std::to_string(l), "slot_expert", "expert " + std::to_string(e) + " has no slot");
  }
}

int Placement::replicas(int l, int e) const {
  int n = 0;
  for (auto x : layer(l)) n += (x == e);
  return n;
}

}  // namespace moeplan::placement
