// moeplan::placement — where every expert (and replica) lives, per MoE layer.
// Owns: the deployment shape (Cluster), the Placement data model and its invariants, its
// JSON form (docs/placement.md) and the exports to serving engines (SGLang, TensorRT-LLM).
// Algorithms live beside it (basic.hpp, eplb.hpp, locality.hpp, replicate.hpp), traffic
// accounting in traffic.hpp. Reads the trace model and analysis loads; never parses traces.
//
// Slots are numbered globally: slot s is on GPU s / slots_per_gpu, and GPU g is on node
// g / gpus_per_node. Every slot holds a logical expert or is empty (-1); every expert holds
// at least one slot in every layer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace moeplan::placement {

struct Cluster {
  int nodes = 1;
  int gpus_per_node = 1;
  int slots_per_gpu = 1;

  int gpus() const { return nodes * gpus_per_node; }
  int slots() const { return gpus() * slots_per_gpu; }
  int gpu_of_slot(int slot) const { return slot / slots_per_gpu; }
  int node_of_gpu(int gpu) const { return gpu / gpus_per_node; }
  int node_of_slot(int slot) const { return node_of_gpu(gpu_of_slot(slot)); }
  bool operator==(const Cluster&) const = default;
};

// The smallest slots per GPU that holds `experts` experts on the cluster (ceil(E / GPUs)).
int min_slots_per_gpu(int experts, int nodes, int gpus_per_node);

// Throws Error{usage} naming the flag when a shape is impossible (non-positive counts) and
// Error{infeasible} when slots() < experts.
void check_cluster(const Cluster& c, int experts);

struct Placement {
  Cluster cluster;
  int num_experts = 0;
  int layers = 0;
  std::vector<std::int32_t> slot_expert;  // [layer][slot]: logical expert, or -1 when empty
  std::string algorithm;                  // e.g. "contiguous", "eplb", "locality"
  // Model layer index of each placed MoE layer (size layers; from the trace's ModelInfo) and
  // the model's total layer count (0 when unknown). Engine exports key layers by these.
  std::vector<int> moe_layer_ids;
  int model_layers = 0;
  nlohmann::json provenance = nlohmann::json::object();  // options, fit trace, seed (free form)

  std::span<const std::int32_t> layer(int l) const {
    return {slot_expert.data() + static_cast<std::size_t>(l) * cluster.slots(),
            static_cast<std::size_t>(cluster.slots())};
  }
  std::span<std::int32_t> layer(int l) {
    return {slot_expert.data() + static_cast<std::size_t>(l) * cluster.slots(),
            static_cast<std::size_t>(cluster.slots())};
  }
  // An empty placement of the right shape (every slot -1); moe_layer_ids 0..layers-1.
  static Placement empty(const Cluster& c, int num_experts, int layers, std::string algorithm);

  // Throws Error{bad_input} naming `what`, the layer and the field when an invariant is broken:
  // shape, ids in [-1, E), every expert placed at least once per layer.
  void check(const std::string& what) const;

  // Replicas of expert e in layer l (number of slots holding it).
  int replicas(int l, int e) const;
  bool operator==(const Placement& o) const {
    return cluster == o.cluster && num_experts == o.num_experts && layers == o.layers &&
           slot_expert == o.slot_expert;
  }
};

// Per-layer expert loads used to fit a placement: loads[layer * E + e], any non-negative unit
// (token counts from analysis::compute_loads).
struct ExpertLoads {
  int layers = 0;
  int experts = 0;
  std::vector<double> load;  // layers * experts
  std::span<const double> layer(int l) const {
    return {load.data() + static_cast<std::size_t>(l) * experts, static_cast<std::size_t>(experts)};
  }
};

// ---- moeplan's placement JSON (docs/placement.md) ----
nlohmann::json to_json(const Placement& p);
// Throws Error{bad_input} naming `what` (the file) and the field.
Placement placement_from_json(const nlohmann::json& j, const std::string& what);
Placement read_placement(const std::string& path);  // moeplan JSON, SGLang JSON or TRT-LLM YAML
void write_placement(const std::string& path, const Placement& p);  // atomic

// ---- engine exports ----
// SGLang --init-expert-location: {"physical_to_logical_map": [layers][slots]}. Empty slots
// are not representable there: export refuses (Error{infeasible}) when a slot is empty.
nlohmann::json to_sglang(const Placement& p);
// TensorRT-LLM EPLB YAML: num_slots, initial_global_assignments {layer: [slots]}.
std::string to_trtllm_yaml(const Placement& p);
// Imports of the same (need the cluster, which those formats do not carry).
Placement from_sglang(const nlohmann::json& j, const Cluster& c, int num_experts, const std::string& what);
Placement from_trtllm_yaml(const std::string& text, const Cluster& c, int num_experts,
                           const std::string& what);

}  // namespace moeplan::placement
