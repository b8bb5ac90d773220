// moeplan::analysis — per-layer load imbalance of one phase (oracle key `imbalance.<phase>`).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "moeplan/analysis/loads.hpp"

namespace moeplan::analysis {

struct HotExpert {
  int layer_index = 0;  // 0-based position in the MoE-layer list
  int expert = 0;
  double load_over_mean = 0;
};

struct Imbalance {
  std::vector<double> max_over_mean, cv, gini, norm_entropy;  // one per MoE layer
  double max_over_mean_mean = 0, cv_mean = 0, gini_mean = 0, norm_entropy_mean = 0;
  std::vector<HotExpert> hot_experts;  // load > kHotFactor x layer mean, by layer then expert
};

inline constexpr int kHotFactor = 16;

// Requires every layer of `loads` to have a positive total (a phase with tokens).
Imbalance compute_imbalance(const LoadMatrix& loads);
nlohmann::ordered_json to_json(const Imbalance& m);

}  // namespace moeplan::analysis
