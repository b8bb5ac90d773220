// moeplan::placement — exact all-to-all accounting of a trace under a placement (docs/traffic.md).
// Owns: request homes (which GPU runs each request's attention), the dispatch rule (which
// replica a token goes to) and the per-layer byte/send/load accounting. Reads the trace and a
// Placement; changes neither.
//
// Dispatch rule (docs/traffic.md "Dispatch rule"): a token of request r at MoE layer l sends
// each of its top-k experts e from its home GPU h = homes[r] to one slot holding e. The
// candidates are the slots holding e on h; when there are none, those on h's node; when there
// are none, every slot holding e (slots in ascending order). Token t (its index in the routing
// array) takes candidate t mod (number of candidates).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moeplan/placement/placement.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

// home_gpu[request index] in trace order.
using Homes = std::vector<std::int32_t>;

// Round-robin over requests in trace order: request i lives on GPU i % gpus.
Homes round_robin_homes(const trace::TraceSet& set, const Cluster& c);
// Homes file (docs/traffic.md): {"homes": {"<request id>": gpu, ...}} or
// {"homes": [{"request": "<id>", "gpu": g}, ...]}; every request of the set must have exactly
// one home and every GPU must be in [0, c.gpus()). Throws Error{bad_input} naming the file
// and the field, Error{io} when the file cannot be read.
Homes read_homes(const std::string& path, const trace::TraceSet& set, const Cluster& c);
// The same on text already read; `what` names the source in errors.
Homes parse_homes(std::string_view text, const std::string& what, const trace::TraceSet& set,
                  const Cluster& c);

// Bytes per token of a dispatch message and of a combine message. Absent: counts only.
struct MessageBytes {
  double dispatch = 0;  // hidden size x dispatch bytes/element (+ scales)
  double combine = 0;   // hidden size x combine bytes/element
};

// Bytes of one token's hidden state in a format: fp8 is 1 byte/element plus one fp32 scale
// per 128 elements (DeepEP's fp8 dispatch); bf16/fp16 2, fp32 4. Throws Error{usage} naming
// the format when it is not one of fp8, bf16, fp16, fp32.
double token_bytes(std::int64_t hidden, const std::string& dtype);

struct TrafficOptions {
  std::optional<MessageBytes> bytes;  // nullopt: report token counts, omit bytes (with a note)
  int threads = 0;                    // OpenMP threads; 0: the OpenMP default
};

// Totals of one layer (or of all layers). Counts are token sends; bytes derive from them
// (every send is one dispatch message of MessageBytes::dispatch bytes, mirrored by one
// combine message of MessageBytes::combine bytes).
struct TrafficTotals {
  std::uint64_t token_layers = 0;       // tokens x layers accounted
  // Per-expert mode: one send per top-k choice.
  std::uint64_t sends_intra_gpu = 0;    // top-k choices served on the home GPU
  std::uint64_t sends_intra_node = 0;   // ... on another GPU of the home node
  std::uint64_t sends_inter_node = 0;   // ... on another node (per-expert sends)
  // Node-level dedup mode (DeepEP normal kernels): per token-layer one inter-node send per
  // distinct remote node (to the GPU of the home's local rank there), then one NVLink forward
  // per distinct destination GPU other than the arrival GPU; on the home node one send per
  // distinct destination GPU other than the home.
  std::uint64_t inter_node_dedup = 0;   // node-level dedup: one send per distinct remote node
  std::uint64_t intra_node_dedup = 0;   // node-level dedup: intra-node forwards (incl. after
                                        // arriving at a remote node)
  std::uint64_t intra_gpu_dedup = 0;    // token-layers with at least one choice on the home GPU
  // Padding: every ordered pair of distinct GPUs exchanges one message per layer, padded to
  // the layer's largest per-expert message (sends from one home GPU to one other GPU).
  std::uint64_t max_message = 0;        // largest message (per layer; the sum over layers in
                                        // `total`)
  std::uint64_t padded_sends = 0;       // gpus x (gpus - 1) x max_message, summed over layers
  std::uint64_t gpu_load_max = 0;       // busiest GPU's expert tokens (summed over layers)
  double gpu_load_mean = 0;             // mean GPU's expert tokens (summed over layers)

  std::uint64_t sends_off_gpu() const { return sends_intra_node + sends_inter_node; }
  bool operator==(const TrafficTotals&) const = default;
};

struct TrafficReport {
  Cluster cluster;
  int layers = 0;
  int top_k = 0;
  std::optional<MessageBytes> bytes;
  TrafficTotals total;
  std::vector<TrafficTotals> per_layer;
  // Per GPU, all layers, dispatch direction (combine mirrors it: a GPU receives in the
  // combine what it sent in the dispatch).
  std::vector<std::uint64_t> gpu_send_tokens, gpu_recv_tokens;  // per-expert sends off the GPU
  std::vector<std::uint64_t> gpu_nic_send_tokens, gpu_nic_recv_tokens;  // node-dedup inter-node
  std::vector<std::uint64_t> gpu_expert_tokens;                 // expert tokens computed

  double inter_node_sends_per_token_layer() const;         // node dedup
  double inter_node_expert_sends_per_token_layer() const;  // per expert
  double gpu_load_max_over_mean() const;
  // Per token and MoE layer: per-expert sends to other GPUs of the home node, and node-dedup
  // forwards inside the nodes (the perf model's all-to-all inputs).
  double intra_node_expert_sends_per_token_layer() const;
  double intra_node_sends_per_token_layer() const;  // node dedup
  // The busiest GPU's expert tokens over the mean, averaged over the layers that carry load
  // (1 when none does); `layers` gets their count. The perf model's measured imbalance.
  double mean_layer_load_imbalance(int* layers = nullptr) const;
  // The same per layer that carries load, in layer order.
  std::vector<double> layer_load_imbalances() const;
  // The GPU whose NIC carries the most bytes in one direction (tokens when bytes are absent);
  // ties go to the lower GPU.
  int busiest_nic() const;
  bool operator==(const TrafficReport& o) const {
    return cluster == o.cluster && layers == o.layers && top_k == o.top_k && total == o.total &&
           per_layer == o.per_layer && gpu_send_tokens == o.gpu_send_tokens &&
           gpu_recv_tokens == o.gpu_recv_tokens && gpu_nic_send_tokens == o.gpu_nic_send_tokens &&
           gpu_nic_recv_tokens == o.gpu_nic_recv_tokens && gpu_expert_tokens == o.gpu_expert_tokens;
  }
};

// One parallel pass over the routing; identical for any thread count. Throws Error{bad_input}
// when the placement does not fit the trace (layers, experts, an expert without a slot) or a
// home is out of range.
TrafficReport account_traffic(const trace::TraceSet& set, const Placement& p, const Homes& homes,
                              const TrafficOptions& opt = {});

// A straightforward single-threaded implementation of the same accounting (searches the
// placement for every choice). Slow; the independent check for tests and the benchmark.
TrafficReport account_traffic_reference(const trace::TraceSet& set, const Placement& p,
                                        const Homes& homes, const TrafficOptions& opt = {});

// The JSON of docs/traffic.md (keys include inter_node_sends_per_token_layer,
// inter_node_bytes, intra_node_bytes, gpu_load_max_over_mean, per_layer arrays).
nlohmann::json to_json(const TrafficReport& r);

// The human-readable summary of `moeplan traffic`.
std::string summary_text(const TrafficReport& r);

}  // namespace moeplan::placement
