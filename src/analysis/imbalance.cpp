#include "moeplan/analysis/imbalance.hpp"

#include <algorithm>
#include <cmath>

#include "analysis/stats.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::analysis {

Imbalance compute_imbalance(const LoadMatrix& loads) {
  using detail::i128;
  Imbalance m;
  const int E = loads.experts;
  std::vector<std::uint64_t> sorted(static_cast<std::size_t>(E));
  for (int l = 0; l < loads.layers; ++l) {
    auto x = loads.layer(l);
    i128 s = 0, q = 0;
    std::uint64_t mx = 0;
    for (auto v : x) s += v, q += static_cast<i128>(v) * v, mx = std::max(mx, v);
    if (s == 0) throw Error(ErrorKind::internal, {}, "imbalance of a layer without tokens");
    const double S = static_cast<double>(s);
    m.max_over_mean.push_back(static_cast<double>(mx) * E / S);
    m.cv.push_back(std::sqrt(static_cast<double>(E * q - s * s)) / S);

    // Gini with ascending x and 1-based i: (2 sum i x_(i) - (E+1) S) / (E S), exact numerator.
    std::copy(x.begin(), x.end(), sorted.begin());
    std::sort(sorted.begin(), sorted.end());
    i128 g = 0;
    for (int i = 0; i < E; ++i) g += static_cast<i128>(i + 1) * sorted[static_cast<std::size_t>(i)];
    m.gini.push_back(static_cast<double>(2 * g - (E + 1) * s) / (static_cast<double>(E) * S));

    double h = 0;
    for (auto v : x)
      if (v > 0) {
        double p = static_cast<double>(v) / S;
        h -= p * std::log(p);
      }
    m.norm_entropy.push_back(E > 1 ? h / std::log(static_cast<double>(E)) : 0.0);

    // Strictly above kHotFactor x mean, i.e. v * E > kHotFactor * S in integers.
    for (int e = 0; e < E; ++e) {
      auto v = x[static_cast<std::size_t>(e)];
      if (static_cast<i128>(v) * E > kHotFactor * s)
        m.hot_experts.push_back({l, e, static_cast<double>(v) * E / S});
    }
  }
  m.max_over_mean_mean = detail::mean(m.max_over_mean);
  m.cv_mean = detail::mean(m.cv);
  m.gini_mean = detail::mean(m.gini);
  m.norm_entropy_mean = detail::mean(m.norm_entropy);
  return m;
}

nlohmann::ordered_json to_json(const Imbalance& m) {
  nlohmann::ordered_json hot = nlohmann::ordered_json::array();
  for (const auto& h : m.hot_experts) hot.push_back({h.layer_index, h.expert, h.load_over_mean});
  return {{"max_over_mean", m.max_over_mean},
          {"cv", m.cv},
          {"gini", m.gini},
          {"norm_entropy", m.norm_entropy},
          {"max_over_mean_mean", m.max_over_mean_mean},
          {"cv_mean", m.cv_mean},
          {"gini_mean", m.gini_mean},
          {"norm_entropy_mean", m.norm_entropy_mean},
          {"hot_experts", hot}};
}

}  // namespace moeplan::analysis
