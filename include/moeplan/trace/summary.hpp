// moeplan::trace — descriptive facts of a trace set (what `trace info` prints).
// Counts only; metrics of routing belong to the analysis module.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

// Keys: model, num_layers, moe_layer_ids, moe_layers, experts, top_k, id_bytes, requests,
// prefill_tokens, decode_tokens, tokens, token_layers, routing_bytes, has_weights,
// domains {label: requests}, prefill_per_request / decode_per_request {min, median, max}.
nlohmann::json info_json(const TraceSet& set);
std::string info_text(const TraceSet& set);

}  // namespace moeplan::trace
