#include "moeplan/analysis/prefill_decode.hpp"

#include <omp.h>

#include <cmath>
#include <limits>

#include "analysis/stats.hpp"

namespace moeplan::analysis {
namespace {

std::optional<double> mean_of_present(const std::vector<std::optional<double>>& v) {
  double s = 0;
  std::size_t n = 0;
  for (const auto& x : v)
    if (x) s += *x, ++n;
  if (n == 0) return std::nullopt;
  return s / static_cast<double>(n);
}

// Pearson between one request's prefill and decode count vectors (layers x E), built
// sparsely: the running sums are updated as counts are incremented, and the scratch
// vectors are cleared by walking the same ids again, so the cost is O(tokens).
template <class T>
std::optional<double> request_pearson(std::span<const T> ids, const trace::Request& q, int L, int K, int E,
                                      std::vector<std::uint32_t>& x, std::vector<std::uint32_t>& y) {
  using detail::i128;
  const std::size_t per_token = static_cast<std::size_t>(L) * K;
  const T* base = ids.data() + q.token_offset * per_token;
  // Calls f(cell) for every id of tokens [t0, t1); the cell is (layer, expert).
  auto each_cell = [&](std::uint64_t t0, std::uint64_t t1, auto&& f) {
    const T* tok = base + t0 * per_token;
    for (std::uint64_t t = t0; t < t1; ++t)
      for (int l = 0; l < L; ++l, tok += K)
        for (int k = 0; k < K; ++k) f(static_cast<std::size_t>(l) * E + tok[k]);
  };
  const std::uint64_t pre = q.prefill_tokens, all = q.tokens();
  i128 sxx = 0, syy = 0, sxy = 0;
  each_cell(0, pre, [&](std::size_t c) { sxx += 2 * static_cast<i128>(x[c]++) + 1; });
  each_cell(pre, all, [&](std::size_t c) {
    sxy += x[c];
    syy += 2 * static_cast<i128>(y[c]++) + 1;
  });
  each_cell(0, pre, [&](std::size_t c) { x[c] = 0; });
  each_cell(pre, all, [&](std::size_t c) { y[c] = 0; });
  const i128 n = static_cast<i128>(L) * E;
  return detail::pearson_from_sums(n, static_cast<i128>(pre * per_token), static_cast<i128>((all - pre) * per_token),
                                   sxx, syy, sxy);
}

}  // namespace

PrefillDecode compare_phase_loads(const PhaseLoads& loads) {
  PrefillDecode m;
  const LoadMatrix &p = loads.prefill, &d = loads.decode;
  for (int l = 0; l < p.layers; ++l) {
    auto x = p.layer(l), y = d.layer(l);
    m.pearson.push_back(detail::pearson(x, y));
    auto rx = detail::doubled_average_ranks(x), ry = detail::doubled_average_ranks(y);
    m.spearman.push_back(detail::pearson(std::span<const std::int64_t>(rx), std::span<const std::int64_t>(ry)));
    for (int j = 0; j < 3; ++j) {
      const int K = kOverlapKs[j];
      auto tx = detail::top_ids(x, K), ty = detail::top_ids(y, K);
      int common = 0;
      for (int a : tx)
        for (int b : ty) common += a == b;
      m.topk_overlap[j].push_back(static_cast<double>(common) / K);
    }
  }
  m.spearman_mean = mean_of_present(m.spearman);
  m.pearson_mean = mean_of_present(m.pearson);
  for (int j = 0; j < 3; ++j) m.topk_overlap_mean[j] = detail::mean(m.topk_overlap[j]);
  return m;
}

PrefillDecode compute_prefill_decode(const trace::TraceSet& set, const PhaseLoads& loads) {
  PrefillDecode m = compare_phase_loads(loads);
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  const std::size_t cells = static_cast<std::size_t>(L) * E;
  const auto n = static_cast<std::ptrdiff_t>(set.requests.size());
  // NaN marks a request that is not used; the mean is then taken in request order.
  std::vector<double> r(set.requests.size(), std::numeric_limits<double>::quiet_NaN());
  set.ids.visit([&](auto ids) {
#pragma omp parallel
    {
      std::vector<std::uint32_t> x(cells, 0), y(cells, 0);
#pragma omp for schedule(dynamic, 16)
      for (std::ptrdiff_t i = 0; i < n; ++i) {
        const trace::Request& q = set.requests[static_cast<std::size_t>(i)];
        if (q.prefill_tokens == 0 || q.decode_tokens == 0) continue;
        if (auto v = request_pearson(ids, q, L, K, E, x, y)) r[static_cast<std::size_t>(i)] = *v;
      }
    }
  });
  double s = 0;
  for (double v : r)
    if (!std::isnan(v)) s += v, ++m.per_request_pearson_used;
  if (m.per_request_pearson_used > 0) m.per_request_pearson_mean = s / static_cast<double>(m.per_request_pearson_used);
  return m;
}

nlohmann::ordered_json to_json(const PrefillDecode& m) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr); };
  auto arr = [&](const std::vector<std::optional<double>>& v) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& x : v) a.push_back(opt(x));
    return a;
  };
  nlohmann::ordered_json j;
  j["spearman"] = arr(m.spearman);
  j["pearson"] = arr(m.pearson);
  for (int i = 0; i < 3; ++i) j["topk_overlap@" + std::to_string(kOverlapKs[i])] = m.topk_overlap[i];
  j["spearman_mean"] = opt(m.spearman_mean);
  j["pearson_mean"] = opt(m.pearson_mean);
  for (int i = 0; i < 3; ++i)
    j["topk_overlap@" + std::to_string(kOverlapKs[i]) + "_mean"] = m.topk_overlap_mean[i];
  j["per_request_pearson_mean"] = opt(m.per_request_pearson_mean);
  j["per_request_pearson_used"] = m.per_request_pearson_used;
  return j;
}

}  // namespace moeplan::analysis
