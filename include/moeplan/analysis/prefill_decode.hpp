// moeplan::analysis — similarity of prefill and decode routing (oracle key `prefill_decode`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "moeplan/analysis/loads.hpp"

namespace moeplan::analysis {

inline constexpr int kOverlapKs[3] = {5, 10, 20};

struct PrefillDecode {
  // Per MoE layer; nullopt where the prefill or decode load vector is constant.
  std::vector<std::optional<double>> spearman, pearson;
  std::vector<double> topk_overlap[3];  // for kOverlapKs
  std::optional<double> spearman_mean, pearson_mean;  // over non-null layers
  double topk_overlap_mean[3] = {0, 0, 0};
  std::optional<double> per_request_pearson_mean;
  std::uint64_t per_request_pearson_used = 0;
};

// Layer-level metrics only (cheap; used by the synthetic calibration loop).
PrefillDecode compare_phase_loads(const PhaseLoads& loads);

// Everything, including the per-request Pearson pass over the routing.
// Precondition: both phases have tokens.
PrefillDecode compute_prefill_decode(const trace::TraceSet& set, const PhaseLoads& loads);

nlohmann::ordered_json to_json(const PrefillDecode& m);

}  // namespace moeplan::analysis
