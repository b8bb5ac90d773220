// moeplan::placement — exact all-to-all accounting of a trace under a placement (docs/traffic.md).
// Owns: request homes (which GPU runs each request's attention), the dispatch rule (which
// replica a token goes to) and the per-layer byte/send/load accounting. Reads the trace and a
// Placement; changes neither.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "moeplan/placement/placement.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::placement {

// home_gpu[request index] in trace order.
using Homes = std::vector<std::int32_t>;

// Round-robin over requests in trace order: request i lives on GPU i % gpus.
Homes round_robin_homes(const trace::TraceSet& set, const Cluster& c);
// Homes file (docs/traffic.md): {"homes": {"<request id>": gpu, ...}}; every request of the
// set must have one and every GPU must be < c.gpus(). Throws Error{bad_input} naming the file.
Homes read_homes(const std::string& path, const trace::TraceSet& set, const Cluster& c);

// Bytes per token of a dispatch message and of a combine message. Absent: counts only.
struct MessageBytes {
  double dispatch = 0;  // hidden size x dispatch bytes/element (+ scales)
  double combine = 0;   // hidden size x combine bytes/element
};

struct TrafficOptions {
  std::optional<MessageBytes> bytes;  // nullopt: report token counts, omit bytes (with a note)
};

// Totals of one layer (or of all layers). Counts are token sends; bytes derive from them.
struct TrafficTotals {
  std::uint64_t token_layers = 0;       // tokens x layers accounted
  std::uint64_t sends_intra_gpu = 0;    // top-k choices served on the home GPU
  std::uint64_t sends_intra_node = 0;   // ... on another GPU of the home node
  std::uint64_t sends_inter_node = 0;   // ... on another node (per-expert sends)
  std::uint64_t inter_node_dedup = 0;   // node-level dedup: one send per distinct remote node
  std::uint64_t intra_node_dedup = 0;   // node-level dedup: intra-node forwards (incl. after
                                        // arriving at a remote node)
  std::uint64_t padded_sends = 0;       // every GPU-pair message padded to the largest one
  std::uint64_t gpu_load_max = 0;       // busiest GPU's expert tokens (summed over layers)
  double gpu_load_mean = 0;             // mean GPU's expert tokens (summed over layers)
};

struct TrafficReport {
  Cluster cluster;
  int layers = 0;
  std::optional<MessageBytes> bytes;
  TrafficTotals total;
  std::vector<TrafficTotals> per_layer;
  std::vector<std::uint64_t> gpu_send_tokens, gpu_recv_tokens;  // per GPU, all layers
  std::vector<std::uint64_t> gpu_expert_tokens;                 // per GPU, all layers

  double inter_node_sends_per_token_layer() const;
  double gpu_load_max_over_mean() const;
};

// One parallel pass over the routing; identical for any thread count.
TrafficReport account_traffic(const trace::TraceSet& set, const Placement& p, const Homes& homes,
                              const TrafficOptions& opt = {});

// The JSON of docs/traffic.md (keys include inter_node_sends_per_token_layer,
// inter_node_bytes, intra_node_bytes, gpu_load_max_over_mean, per_layer arrays).
nlohmann::json to_json(const TrafficReport& r);

}  // namespace moeplan::placement
