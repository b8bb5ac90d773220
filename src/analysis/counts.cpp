#include "moeplan/analysis/counts.hpp"

namespace moeplan::analysis {

Counts compute_counts(const trace::TraceSet& set) {
  Counts c;
  c.requests = set.requests.size();
  c.prefill_tokens = set.prefill_tokens();
  c.decode_tokens = set.decode_tokens();
  c.moe_layers = set.model.moe_layers();
  c.experts = set.model.num_experts;
  c.top_k = set.model.top_k;
  return c;
}

nlohmann::ordered_json to_json(const Counts& c) {
  return {{"requests", c.requests},     {"prefill_tokens", c.prefill_tokens},
          {"decode_tokens", c.decode_tokens}, {"moe_layers", c.moe_layers},
          {"experts", c.experts},       {"top_k", c.top_k}};
}

}  // namespace moeplan::analysis
