// moeplan::placement — DeepSeek's EPLB load balancer, reproduced exactly (docs/eplb.md).
// Owns: the EPLB contract (../shared/oracles/README.md, "EPLB cases": float32 arithmetic,
// stable descending sort, first-minimum bin, first-maximum replica pick), its case-file parser
// (shared by `moeplan eplb` and the fuzzer) and the `eplb` placement algorithm adapter.
// Layers are independent and run in parallel (OpenMP); results do not depend on thread count.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "moeplan/placement/placement.hpp"

namespace moeplan::placement {

// auto: hierarchical when num_groups % num_nodes == 0, else global (EPLB's own rule).
// global: EPLB's hierarchical procedure with groups = nodes = 1 (given groups/nodes ignored).
enum class EplbPolicy { automatic, hierarchical, global };
const char* policy_name(EplbPolicy p);  // "auto", "hierarchical", "global"
// Parses "auto" | "hierarchical" | "global"; throws Error{usage} otherwise.
EplbPolicy parse_eplb_policy(std::string_view s);

// EPLB's arguments. weight[layer * experts + e] is already float32 (EPLB converts its input
// to float32 before any arithmetic; read_eplb_case and eplb_placement do that conversion).
struct EplbInput {
  std::vector<float> weight;  // [layers][experts], finite, >= 0
  int layers = 0;
  int experts = 0;
  int num_replicas = 0;  // R: physical slots per layer
  int num_groups = 0;    // G: expert groups (hierarchical: groups are kept within one node)
  int num_nodes = 0;     // N
  int num_gpus = 0;      // P
};

struct EplbResult {
  int layers = 0;
  int experts = 0;
  int replicas = 0;      // R
  int max_logcnt = 0;    // M: the largest logcnt over all layers (log2phy's last extent)
  std::vector<std::int32_t> phy2log;  // [layers][R]: logical expert in each physical slot
  std::vector<std::int32_t> logcnt;   // [layers][E]: replicas of each expert (>= 1, sums to R)
  std::vector<std::int32_t> log2phy;  // [layers][E][M]: slot of replica rank k, -1 past logcnt
  std::string policy;                 // "hierarchical" or "global" (the one used)
  int groups_used = 0;                // G and N as used (1 and 1 for global)
  int nodes_used = 0;

  std::int32_t phy(int l, int r) const { return phy2log[static_cast<std::size_t>(l) * replicas + r]; }
  std::int32_t count(int l, int e) const { return logcnt[static_cast<std::size_t>(l) * experts + e]; }
  std::int32_t slot(int l, int e, int k) const {
    return log2phy[(static_cast<std::size_t>(l) * experts + e) * max_logcnt + k];
  }
};

// Checks EPLB's preconditions for the policy that `policy` resolves to: positive counts
// (Error{usage}), weight shape and values (Error{bad_input}), then E % G, G % N, P % N, R % P,
// R >= E (Error{infeasible}, message naming the condition, e.g. "num_replicas 10 is not a
// multiple of num_gpus 4"). `what` (a file name, or empty) goes into the error's location.
// Returns the resolved policy (hierarchical or global).
EplbPolicy check_eplb_input(const EplbInput& in, EplbPolicy policy, const std::string& what = {});

// EPLB's rebalance_experts on every layer. Throws as check_eplb_input.
EplbResult rebalance_experts(const EplbInput& in, EplbPolicy policy = EplbPolicy::automatic);

// {"policy", "phy2log", "logcnt", "log2phy"} as nested lists (the oracle's layout).
nlohmann::json to_json(const EplbResult& r);

// Limits of a case file, checked before anything is allocated (bad_input beyond them).
inline constexpr int kEplbMaxCount = 1 << 20;                       // R, G, N, P, layers, experts
inline constexpr std::int64_t kEplbMaxSlots = std::int64_t{1} << 26;  // layers x num_replicas
inline constexpr std::int64_t kEplbMaxLog2phy = std::int64_t{1} << 28;  // layers x E x (R - E + 1)
inline constexpr double kEplbMaxWeight = 1e30;  // keeps every float32 sum finite

// Parses an EPLB case (JSON object with weight [layers][experts] of non-negative numbers,
// num_replicas, num_groups, num_nodes, num_gpus; other fields ignored, so an oracle case is a
// valid input). Throws Error{bad_input} naming `what` and the field (and row/column).
// Weights are converted to float32 (integers directly, as PyTorch's .float() does).
EplbInput read_eplb_case(std::string_view bytes, const std::string& what);

// The `eplb` placement algorithm: R = c.slots(), P = c.gpus(), N = c.nodes, G = groups
// (<= 0: c.nodes). Slot r of layer l holds phy2log[l][r] (EPLB's slot order is GPU-major, as
// Placement's). Loads are converted to float32. Provenance: policy used, groups, nodes.
// Throws Error{infeasible} when EPLB's preconditions fail for this cluster.
Placement eplb_placement(const ExpertLoads& loads, const Cluster& c, EplbPolicy policy, int groups);

}  // namespace moeplan::placement
