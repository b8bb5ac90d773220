#include "moeplan/analysis/domains.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "moeplan/io/error.hpp"

namespace moeplan::analysis {
namespace {

// One request's routing as a sparse vector over (layer, expert) cells: counts in a dense
// per-thread scratch, the touched cells in first-touch order (a fixed order, so sums over
// them do not depend on the thread).
struct RequestVector {
  std::vector<std::uint32_t> count;  // layers x E, all zero between requests
  std::vector<std::uint32_t> touched;
  std::vector<double> value;         // per touched cell: the normalised entry

  explicit RequestVector(std::size_t cells) : count(cells, 0) {}

  template <class T>
  void build(std::span<const T> ids, const trace::Request& q, int L, int E, int K) {
    const std::size_t per_token = static_cast<std::size_t>(L) * K;
    const T* tok = ids.data() + q.token_offset * per_token;
    for (std::uint64_t t = 0; t < q.tokens(); ++t, tok += per_token)
      for (int l = 0; l < L; ++l)
        for (int k = 0; k < K; ++k) {
          const std::size_t c = static_cast<std::size_t>(l) * E + tok[l * K + k];
          if (count[c]++ == 0) touched.push_back(static_cast<std::uint32_t>(c));
        }
    // Each layer block normalised to sum 1: a block's sum is the number of ids the request
    // has at that layer (tokens x k, the same for every layer, but not assumed).
    std::vector<std::uint64_t> block(static_cast<std::size_t>(L), 0);
    for (auto c : touched) block[c / static_cast<std::uint32_t>(E)] += count[c];
    value.resize(touched.size());
    double norm2 = 0;
    for (std::size_t i = 0; i < touched.size(); ++i) {
      const auto c = touched[i];
      value[i] = static_cast<double>(count[c]) / static_cast<double>(block[c / static_cast<std::uint32_t>(E)]);
      norm2 += value[i] * value[i];
    }
    const double norm = std::sqrt(norm2);
    for (double& v : value) v /= norm;
  }

  void clear() {
    for (auto c : touched) count[c] = 0;
    touched.clear();
    value.clear();
  }
};

// Jensen-Shannon divergence in bits between two load vectors, each normalised to sum 1.
double js_bits(std::span<const std::uint64_t> x, std::span<const std::uint64_t> y) {
  const double sx = static_cast<double>(std::accumulate(x.begin(), x.end(), std::uint64_t{0}));
  const double sy = static_cast<double>(std::accumulate(y.begin(), y.end(), std::uint64_t{0}));
  double kx = 0, ky = 0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const double p = static_cast<double>(x[e]) / sx, q = static_cast<double>(y[e]) / sy;
    const double m = 0.5 * (p + q);
    if (p > 0) kx += p * std::log2(p / m);
    if (q > 0) ky += q * std::log2(q / m);
  }
  return 0.5 * kx + 0.5 * ky;
}

}  // namespace

int active_domains(const trace::TraceSet& set) {
  std::vector<bool> seen(set.domains.size(), false);
  for (const auto& q : set.requests)
    if (q.tokens() > 0) seen[q.domain] = true;
  return static_cast<int>(std::count(seen.begin(), seen.end(), true));
}

Domains compute_domains(const trace::TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  const std::size_t cells = static_cast<std::size_t>(L) * E;

  // Labels with tokens, ascending; label_of maps a TraceSet domain index to its position.
  Domains d;
  std::vector<int> label_of(set.domains.size(), -1);
  {
    std::vector<std::uint32_t> used;
    for (const auto& q : set.requests)
      if (q.tokens() > 0) used.push_back(q.domain);
    std::sort(used.begin(), used.end());
    used.erase(std::unique(used.begin(), used.end()), used.end());
    std::sort(used.begin(), used.end(), [&](auto a, auto b) { return set.domains[a] < set.domains[b]; });
    for (std::size_t i = 0; i < used.size(); ++i) {
      label_of[used[i]] = static_cast<int>(i);
      d.labels.push_back(set.domains[used[i]]);
    }
  }
  const std::size_t D = d.labels.size();
  if (D < 2) throw Error(ErrorKind::internal, {}, "domain analysis needs two domains with tokens");
  d.requests.assign(D, 0);

  std::vector<std::uint64_t> load(D * cells, 0);  // per domain, all phases
  std::vector<double> sum(D * cells, 0.0);        // per domain, the sum of request vectors
  const auto n = static_cast<std::ptrdiff_t>(set.requests.size());

  // Pass 1: request vectors are built in parallel; adding them to their domain's sum is an
  // ordered section, so the floating-point sums run in request order for any thread count.
  set.ids.visit([&](auto ids) {
#pragma omp parallel
    {
      RequestVector v(cells);
#pragma omp for ordered schedule(dynamic, 1)
      for (std::ptrdiff_t i = 0; i < n; ++i) {
        const trace::Request& q = set.requests[static_cast<std::size_t>(i)];
        if (q.tokens() > 0) v.build(ids, q, L, E, K);
#pragma omp ordered
        if (q.tokens() > 0) {
          const std::size_t base = static_cast<std::size_t>(label_of[q.domain]) * cells;
          ++d.requests[static_cast<std::size_t>(label_of[q.domain])];
          for (std::size_t j = 0; j < v.touched.size(); ++j) {
            load[base + v.touched[j]] += v.count[v.touched[j]];
            sum[base + v.touched[j]] += v.value[j];
          }
        }
        v.clear();
      }
    }
  });

  // Jensen-Shannon per pair of domains, mean over layers.
  d.js_divergence.assign(D, std::vector<double>(D, 0.0));
  for (std::size_t a = 0; a < D; ++a)
    for (std::size_t b = a + 1; b < D; ++b) {
      double s = 0;
      for (int l = 0; l < L; ++l) {
        const std::size_t off = static_cast<std::size_t>(l) * E;
        s += js_bits({load.data() + a * cells + off, static_cast<std::size_t>(E)},
                     {load.data() + b * cells + off, static_cast<std::size_t>(E)});
      }
      d.js_divergence[a][b] = d.js_divergence[b][a] = s / L;
    }

  // Leave-one-out nearest centroid. A centroid is the other requests' mean; its scale does
  // not change a cosine, so cos(v, S_d - [own] v) is formed from v.S_d, |S_d|^2 and |v|^2:
  // |S_d - v|^2 = |S_d|^2 - 2 v.S_d + |v|^2.
  std::vector<double> norm2(D, 0.0);
  for (std::size_t a = 0; a < D; ++a)
    for (std::size_t c = 0; c < cells; ++c) norm2[a] += sum[a * cells + c] * sum[a * cells + c];
  // Per request: 1 correct, 0 wrong, -1 not classified.
  std::vector<signed char> outcome(set.requests.size(), -1);
  set.ids.visit([&](auto ids) {
#pragma omp parallel
    {
      RequestVector v(cells);
      std::vector<double> dot(D);
#pragma omp for schedule(dynamic, 4)
      for (std::ptrdiff_t i = 0; i < n; ++i) {
        const trace::Request& q = set.requests[static_cast<std::size_t>(i)];
        if (q.tokens() == 0) continue;
        v.build(ids, q, L, E, K);
        double vv = 0;
        std::fill(dot.begin(), dot.end(), 0.0);
        for (std::size_t j = 0; j < v.touched.size(); ++j) {
          vv += v.value[j] * v.value[j];
          for (std::size_t a = 0; a < D; ++a) dot[a] += v.value[j] * sum[a * cells + v.touched[j]];
        }
        const auto own = static_cast<std::size_t>(label_of[q.domain]);
        double best = -std::numeric_limits<double>::infinity();
        std::size_t pick = D;
        for (std::size_t a = 0; a < D; ++a) {  // ascending labels: ties keep the smaller
          double num = dot[a], den2 = norm2[a];
          if (a == own) {
            if (d.requests[a] < 2) continue;  // no other request: no centroid
            num -= vv;
            den2 -= 2 * dot[a] - vv;
          }
          if (!(den2 > 0)) continue;
          const double cos = num / std::sqrt(den2);  // / |v| is the same for every domain
          if (cos > best) best = cos, pick = a;
        }
        if (pick < D) outcome[static_cast<std::size_t>(i)] = pick == own ? 1 : 0;
        v.clear();
      }
    }
  });
  for (auto o : outcome)
    if (o >= 0) ++d.loo_requests, d.loo_correct += static_cast<std::uint64_t>(o);
  if (d.loo_requests > 0)
    d.loo_accuracy = static_cast<double>(d.loo_correct) / static_cast<double>(d.loo_requests);
  return d;
}

nlohmann::ordered_json to_json(const Domains& d) {
  nlohmann::ordered_json per = nlohmann::ordered_json::object(), js = nlohmann::ordered_json::object();
  for (std::size_t a = 0; a < d.labels.size(); ++a) {
    per[d.labels[a]] = d.requests[a];
    for (std::size_t b = a + 1; b < d.labels.size(); ++b)
      js[d.labels[a] + "|" + d.labels[b]] = d.js_divergence[a][b];
  }
  nlohmann::ordered_json j;
  j["labels"] = d.labels;
  j["requests_per_domain"] = per;
  j["js_divergence"] = js;
  j["loo_nearest_centroid_accuracy"] =
      d.loo_accuracy ? nlohmann::ordered_json(*d.loo_accuracy) : nlohmann::ordered_json(nullptr);
  j["loo_requests"] = d.loo_requests;
  return j;
}

}  // namespace moeplan::analysis
