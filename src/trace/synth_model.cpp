#include "trace/synth_model.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "trace/synth_rng.hpp"

namespace moeplan::trace::synth {
namespace {

void normalise(double* w, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += w[i];
  if (s <= 0) {
    std::fill(w, w + n, 1.0 / n);  // nothing known: uniform
    return;
  }
  for (int i = 0; i < n; ++i) w[i] /= s;
}

// Walker/Vose alias table of n normalised weights: cell i keeps i with probability
// threshold[i] / 2^32, else gives other[i].
void build_alias(const double* w, int n, std::vector<std::uint32_t>& threshold, std::vector<std::uint32_t>& other) {
  std::vector<double> scaled(static_cast<std::size_t>(n));
  std::vector<int> small, large;
  for (int i = 0; i < n; ++i) {
    scaled[static_cast<std::size_t>(i)] = w[i] * n;
    (scaled[static_cast<std::size_t>(i)] < 1.0 ? small : large).push_back(i);
  }
  threshold.assign(static_cast<std::size_t>(n), 0xFFFFFFFFu);
  other.resize(static_cast<std::size_t>(n));
  std::iota(other.begin(), other.end(), 0u);
  while (!small.empty() && !large.empty()) {
    int s = small.back(), l = large.back();
    small.pop_back();
    auto& ps = scaled[static_cast<std::size_t>(s)];
    threshold[static_cast<std::size_t>(s)] = static_cast<std::uint32_t>(std::min(ps * 4294967296.0, 4294967295.0));
    other[static_cast<std::size_t>(s)] = static_cast<std::uint32_t>(l);
    auto& pl = scaled[static_cast<std::size_t>(l)];
    pl -= 1.0 - ps;
    if (pl < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are 1 up to rounding: keep them always (threshold stays at max).
}

// Index drawn with probability proportional to w (uniform when all are zero).
int draw_weighted(const std::vector<double>& w, Rng& rng) {
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  const int n = static_cast<int>(w.size());
  if (total <= 0) return static_cast<int>(rng.below(static_cast<std::uint32_t>(n)));
  double u = rng.uniform() * total;
  int last = 0;
  for (int i = 0; i < n; ++i) {
    if (w[static_cast<std::size_t>(i)] <= 0) continue;
    last = i;
    if ((u -= w[static_cast<std::size_t>(i)]) < 0) return i;
  }
  return last;  // rounding: the last positive weight
}

// Scales each column b of the affinity rows by f_b so that following the map from the
// layer's popularity `from` lands on the next layer's popularity `to` (Sinkhorn iterations with
// row normalisation): the affinity source then keeps the per-layer loads while keeping each
// row's preferences.
void balance_columns(std::vector<std::vector<std::pair<int, double>>>& rows, const double* from,
                     const double* to, int E) {
  std::vector<double> f(static_cast<std::size_t>(E), 1.0), mass(static_cast<std::size_t>(E));
  for (int it = 0; it < 100; ++it) {
    std::fill(mass.begin(), mass.end(), 0.0);
    for (int a = 0; a < E; ++a) {
      const auto& row = rows[static_cast<std::size_t>(a)];
      double total = 0;
      for (const auto& [b, w] : row) total += w * f[static_cast<std::size_t>(b)];
      if (total <= 0 || from[a] <= 0) continue;
      for (const auto& [b, w] : row) mass[static_cast<std::size_t>(b)] += from[a] * w * f[static_cast<std::size_t>(b)] / total;
    }
    for (int b = 0; b < E; ++b) {
      auto& fb = f[static_cast<std::size_t>(b)];
      if (to[b] <= 0) fb = 0;
      else if (mass[static_cast<std::size_t>(b)] > 0) fb = std::clamp(fb * to[b] / mass[static_cast<std::size_t>(b)], 1e-6, 1e6);
    }
  }
  for (auto& row : rows)
    for (auto& [b, w] : row) w *= f[static_cast<std::size_t>(b)];
}

}  // namespace

std::vector<double> popularity_of(const SynthParams& p) {
  if (!p.popularity.empty()) return p.popularity;
  const int L = p.layers, E = p.experts;
  const auto D = p.domains.size();
  std::vector<double> pop(D * 2 * static_cast<std::size_t>(L) * E);
  std::vector<double> base(static_cast<std::size_t>(E));
  std::vector<int> perm(static_cast<std::size_t>(E));
  for (int l = 0; l < L; ++l) {
    // A Zipf law over a layer-specific random order of the experts, so hot experts differ
    // from layer to layer.
    Rng rng(p.seed, kSaltModel, static_cast<std::uint64_t>(l));
    const double s = p.skew * std::exp(p.skew_spread * rng.normal());
    std::iota(perm.begin(), perm.end(), 0);
    for (int i = E - 1; i > 0; --i) std::swap(perm[static_cast<std::size_t>(i)], perm[rng.below(static_cast<std::uint32_t>(i + 1))]);
    for (int r = 0; r < E; ++r) base[static_cast<std::size_t>(perm[static_cast<std::size_t>(r)])] = std::pow(r + 1.0, -s);
    for (std::size_t d = 0; d < D; ++d) {
      double* pre = pop.data() + ((d * 2 + 0) * L + l) * E;
      double* dec = pop.data() + ((d * 2 + 1) * L + l) * E;
      for (int e = 0; e < E; ++e) {
        pre[e] = base[static_cast<std::size_t>(e)] * std::exp(p.domain_shift * rng.normal());
        dec[e] = pre[e] * std::exp(p.decode_shift * rng.normal());
      }
      normalise(pre, E);
      normalise(dec, E);
    }
  }
  return pop;
}

std::vector<std::vector<std::pair<int, double>>> affinity_of(const SynthParams& p,
                                                             const std::vector<double>& pop) {
  if (!p.affinity_map.empty() || p.layers < 2) return p.affinity_map;
  const int L = p.layers, E = p.experts;
  const int m = std::clamp(p.affinity_partners, 1, E);
  std::vector<std::vector<std::pair<int, double>>> map(static_cast<std::size_t>(L - 1) * E);
  std::vector<double> w(static_cast<std::size_t>(E));
  for (int l = 0; l + 1 < L; ++l) {
    // Partners are drawn by the next layer's (first domain, prefill) popularity, so the
    // affinity source roughly keeps that layer's load shape; weights halve partner by partner.
    Rng rng(p.seed, kSaltModel, 0x10000u + static_cast<std::uint64_t>(l));
    const double* next = pop.data() + static_cast<std::size_t>(l + 1) * E;
    for (int a = 0; a < E; ++a) {
      std::copy(next, next + E, w.begin());
      auto& row = map[static_cast<std::size_t>(l) * E + a];
      double weight = 1.0;
      for (int j = 0; j < m; ++j) {
        const int b = draw_weighted(w, rng);
        w[static_cast<std::size_t>(b)] = 0;  // distinct partners
        row.emplace_back(b, weight);
        weight *= 0.5;
      }
    }
  }
  return map;
}

Model build_model(const SynthParams& p) {
  Model m;
  m.domains = static_cast<int>(p.domains.size());
  m.layers = p.layers, m.experts = p.experts, m.top_k = p.top_k;
  const int L = p.layers, E = p.experts;
  m.weights = popularity_of(p);
  const std::size_t per_phase = static_cast<std::size_t>(L) * E;
  for (std::size_t d = 0; d < p.domains.size(); ++d) {
    double* pre = m.weights.data() + (d * 2) * per_phase;
    double* dec = pre + per_phase;
    for (int l = 0; l < L; ++l) {
      normalise(pre + static_cast<std::size_t>(l) * E, E);
      normalise(dec + static_cast<std::size_t>(l) * E, E);
      for (int e = 0; e < E; ++e) {
        auto i = static_cast<std::size_t>(l) * E + e;
        dec[i] = (1 - p.decode_mix) * dec[i] + p.decode_mix * pre[i];
      }
    }
  }
  std::vector<std::uint32_t> threshold, other;
  m.alias.reserve(m.weights.size());
  for (std::size_t off = 0; off < m.weights.size(); off += static_cast<std::size_t>(E)) {
    build_alias(m.weights.data() + off, E, threshold, other);
    for (int e = 0; e < E; ++e) m.alias.push_back({threshold[static_cast<std::size_t>(e)], other[static_cast<std::size_t>(e)]});
  }

  // A shared map serves every (domain, phase); each copy is sharpened and balanced against
  // that (domain, phase)'s popularity.
  const auto map = affinity_of(p, m.weights);
  const std::size_t transitions = static_cast<std::size_t>(std::max(L - 1, 0));
  const std::size_t rows = p.domains.size() * 2 * transitions * E;
  m.aff_begin.assign(rows + 1, 0);
  std::vector<std::vector<std::pair<int, double>>> block(static_cast<std::size_t>(E));
  for (std::size_t blk = 0; blk < p.domains.size() * 2 * transitions && !map.empty(); ++blk) {
    const std::size_t d = blk / (2 * transitions), ph = (blk / transitions) % 2, l = blk % transitions;
    for (int a = 0; a < E; ++a) {
      block[static_cast<std::size_t>(a)] = map[(blk * E + static_cast<std::size_t>(a)) % map.size()];
      auto& row = block[static_cast<std::size_t>(a)];
      double top = 0;
      for (auto& [b, w] : row) top = std::max(top, w = std::pow(w, p.affinity_sharpness));
      // Partners below 1e-4 of the strongest are negligible after sharpening: dropping them
      // keeps the rows short (they are scanned when sampling without replacement).
      std::erase_if(row, [&](const auto& bw) { return !(bw.second >= 1e-4 * top); });
    }
    const double* from = m.weights.data() + m.dist(static_cast<std::uint32_t>(d), static_cast<int>(ph), static_cast<int>(l));
    balance_columns(block, from, from + E, E);
    if (!p.affinity_bias.empty()) {
      const double* bias = p.affinity_bias.data() + (ph * static_cast<std::size_t>(L) + l + 1) * E;
      for (auto& row : block)
        for (auto& [b, w] : row) w *= bias[b];
    }
    for (int a = 0; a < E; ++a) {
      const std::size_t i = blk * E + static_cast<std::size_t>(a);
      std::vector<double> w;
      std::vector<std::uint16_t> partner;
      for (const auto& [b, wb] : block[static_cast<std::size_t>(a)])
        if (wb > 0) partner.push_back(static_cast<std::uint16_t>(b)), w.push_back(wb);
      if (!w.empty()) {
        normalise(w.data(), static_cast<int>(w.size()));
        build_alias(w.data(), static_cast<int>(w.size()), threshold, other);
        for (std::size_t c = 0; c < w.size(); ++c)
          m.partners.push_back({threshold[c], static_cast<std::uint16_t>(other[c]), partner[c]});
        m.aff_p.insert(m.aff_p.end(), w.begin(), w.end());
      }
      m.aff_begin[i + 1] = static_cast<std::uint32_t>(m.partners.size());
    }
  }
  for (std::size_t i = 1; i <= rows; ++i) m.aff_begin[i] = std::max(m.aff_begin[i], m.aff_begin[i - 1]);
  m.stick = static_cast<std::uint64_t>(std::clamp(p.stickiness, 0.0, 1.0) * 4294967296.0);
  m.aff = static_cast<std::uint64_t>(std::clamp(p.affinity, 0.0, 1.0) * 4294967296.0);
  return m;
}

}  // namespace moeplan::trace::synth
