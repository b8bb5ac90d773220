// moeplan::analysis — the counts every report starts with (oracle key `counts`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

struct Counts {
  std::uint64_t requests = 0;
  std::uint64_t prefill_tokens = 0;
  std::uint64_t decode_tokens = 0;
  int moe_layers = 0;
  int experts = 0;
  int top_k = 0;
};

Counts compute_counts(const trace::TraceSet& set);
nlohmann::ordered_json to_json(const Counts& c);

}  // namespace moeplan::analysis
