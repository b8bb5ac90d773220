// Internal numeric helpers of the analysis module. Correlations are formed from exact integer
// sums so results do not depend on summation order or thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <vector>

namespace moeplan::analysis::detail {

using i128 = __int128;

// Pearson correlation from exact sums over n pairs; nullopt when either side is constant.
inline std::optional<double> pearson_from_sums(i128 n, i128 sx, i128 sy, i128 sxx, i128 syy,
                                               i128 sxy) {
  i128 vx = n * sxx - sx * sx, vy = n * syy - sy * sy;
  if (vx <= 0 || vy <= 0) return std::nullopt;
  i128 num = n * sxy - sx * sy;
  return static_cast<double>(num) / std::sqrt(static_cast<double>(vx) * static_cast<double>(vy));
}

template <class X, class Y>
std::optional<double> pearson(std::span<const X> x, std::span<const Y> y) {
  i128 sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    i128 a = static_cast<i128>(x[i]), b = static_cast<i128>(y[i]);
    sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
  }
  return pearson_from_sums(static_cast<i128>(x.size()), sx, sy, sxx, syy, sxy);
}

// Twice the 1-based average rank of each value (ties share the mean of their ranks), so the
// ranks stay integers.
inline std::vector<std::int64_t> doubled_average_ranks(std::span<const std::uint64_t> v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<std::int64_t> rank(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    // Positions i..j (0-based) hold ranks i+1..j+1; their mean, doubled, is i + j + 2.
    for (std::size_t q = i; q <= j; ++q) rank[order[q]] = static_cast<std::int64_t>(i + j + 2);
    i = j + 1;
  }
  return rank;
}

// Indices of the K largest values, ties to the lower index.
inline std::vector<int> top_ids(std::span<const std::uint64_t> v, int k) {
  std::vector<int> ids(v.size());
  std::iota(ids.begin(), ids.end(), 0);
  k = std::min<int>(k, static_cast<int>(v.size()));
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int a, int b) {
    return v[a] != v[b] ? v[a] > v[b] : a < b;
  });
  ids.resize(static_cast<std::size_t>(k));
  return ids;
}

// Unweighted mean in index order (a fixed summation order).
inline double mean(std::span<const double> v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

}  // namespace moeplan::analysis::detail
