// The synthetic generator: SynthParams -> TraceSet, parallel over requests.
#include <algorithm>
#include <cmath>
#include <memory>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/synth.hpp"
#include "trace/synth_model.hpp"
#include "trace/synth_rng.hpp"

namespace moeplan::trace {
namespace {

using synth::Model;
using synth::Rng;

// Duplicate draws are retried this many times before the exact (slow) draw takes over.
constexpr int kMaxTries = 16;

std::uint32_t draw_length(const LengthDist& d, Rng& rng) {
  switch (d.kind) {
    case LengthDist::Kind::fixed: return static_cast<std::uint32_t>(std::llround(d.mean));
    case LengthDist::Kind::uniform: return d.lo + rng.below(d.hi - d.lo + 1);
    case LengthDist::Kind::lognormal: {
      if (d.mean <= 0) return 0;
      const double mu = std::log(d.mean) - d.sigma * d.sigma / 2;  // so that E[x] = mean
      const double x = std::exp(mu + d.sigma * rng.normal());
      return static_cast<std::uint32_t>(std::min(std::llround(x), 1ll << 30));
    }
  }
  return 0;
}

RequestShape draw_shape(const SynthParams& p, std::uint64_t i) {
  Rng rng(p.seed, synth::kSaltShape, i);
  if (!p.shapes.empty()) {
    if (i < p.shapes.size()) return p.shapes[i];
    return p.shapes[rng.below(static_cast<std::uint32_t>(std::min<std::size_t>(p.shapes.size(), 0xFFFFFFFFu)))];
  }
  RequestShape s;
  s.domain = rng.below(static_cast<std::uint32_t>(p.domains.size()));
  s.prefill = std::max<std::uint32_t>(1, draw_length(p.prefill, rng));  // a request has a prompt
  s.decode = draw_length(p.decode, rng);
  return s;
}

// An exact draw from distribution `dist` without the experts already in out[0..j): used only
// when repeated draws keep hitting chosen experts (extreme skew).
template <class T>
std::uint32_t draw_excluding(const Model& m, std::size_t dist, const T* out, int j, Rng& rng) {
  auto chosen = [&](int e) { return std::find(out, out + j, static_cast<T>(e)) != out + j; };
  const double* w = m.weights.data() + dist;
  double total = 0;
  for (int e = 0; e < m.experts; ++e)
    if (!chosen(e)) total += w[e];
  if (total > 0) {
    double u = rng.uniform() * total;
    int last = -1;
    for (int e = 0; e < m.experts; ++e) {
      if (chosen(e) || w[e] <= 0) continue;
      last = e;
      if ((u -= w[e]) < 0) return static_cast<std::uint32_t>(e);
    }
    return static_cast<std::uint32_t>(last);
  }
  // Fewer experts with weight than k: the rest uniformly among the unchosen.
  std::uint32_t r = rng.below(static_cast<std::uint32_t>(m.experts - j));
  for (int e = 0;; ++e)
    if (!chosen(e) && r-- == 0) return static_cast<std::uint32_t>(e);
}

// Fills one request's routing [token][layer][k] at `out`.
template <class T>
void generate_request(const Model& m, const SynthParams& p, std::uint64_t index,
                      const RequestShape& shape, T* out) {
  Rng rng(p.seed, synth::kSaltTokens, index);
  const int L = m.layers, E = m.experts, K = m.top_k;
  const std::size_t per_token = static_cast<std::size_t>(L) * K;
  const std::uint32_t tokens = shape.prefill + shape.decode;
  for (std::uint32_t t = 0; t < tokens; ++t) {
    T* cur = out + t * per_token;
    const T* prev = t > 0 ? cur - per_token : nullptr;
    const int phase = t < shape.prefill ? 0 : 1;
    for (int l = 0; l < L; ++l) {
      const std::size_t dist = m.dist(shape.domain, phase, l);
      T* slot = cur + static_cast<std::size_t>(l) * K;
      const std::uint64_t r = rng.next();
      // Stickiness copies the previous token's whole set at this layer: a set, not single
      // slots, so that the copy stays a coherent top-k set.
      if (prev && (r >> 32) < m.stick) {
        std::copy(prev + static_cast<std::size_t>(l) * K, prev + static_cast<std::size_t>(l + 1) * K, slot);
        continue;
      }
      // All affinity draws of this token-layer follow one anchor expert of the previous
      // layer, so the token's set moves together from layer to layer (as real top-k sets do).
      const int anchor = static_cast<int>((static_cast<std::uint32_t>(r) * static_cast<std::uint64_t>(K)) >> 32);
      std::uint32_t row_begin = 0, row_end = 0;
      if (l > 0) {
        const std::size_t row = m.aff_row(shape.domain, phase, l - 1, slot[anchor - K]);
        row_begin = m.aff_begin[row], row_end = m.aff_begin[row + 1];
      }
      for (int j = 0; j < K; ++j) {
        auto fresh = [&](std::uint32_t e) { return std::find(slot, slot + j, static_cast<T>(e)) == slot + j; };
        const std::uint64_t q = rng.next();
        std::uint32_t e = 0;
        bool ok = false;
        // Affinity first: the anchor's partners without those already chosen (a few
        // rejection tries, then an exact scan of the row, so that a coherent set can take
        // several partners of one anchor) ...
        if (row_begin < row_end && (q >> 32) < m.aff) {
          for (int tries = 0; tries < 4 && !ok; ++tries) {
            const std::uint64_t u = tries == 0 ? (q & 0xFFFFFFFFu) : (rng.next() >> 32);
            std::uint32_t i = row_begin;
            while (i + 1 < row_end && m.aff_cum[i] <= u) ++i;
            e = m.aff_to[i];
            ok = fresh(e);
          }
          if (!ok) {
            auto weight = [&](std::uint32_t i) { return m.aff_cum[i] - (i > row_begin ? m.aff_cum[i - 1] : 0); };
            std::uint64_t total = 0;
            for (std::uint32_t i = row_begin; i < row_end; ++i)
              if (fresh(m.aff_to[i])) total += weight(i);
            if (total > 0) {
              std::uint64_t u = (rng.next() >> 11) % total;
              for (std::uint32_t i = row_begin; i < row_end && !ok; ++i) {
                if (!fresh(m.aff_to[i])) continue;
                if (u < weight(i)) e = m.aff_to[i], ok = true;
                else u -= weight(i);
              }
            }
          }
        }
        // ... else the layer's popularity (alias draws), retried on repeats ...
        for (int tries = 0; tries < kMaxTries && !ok; ++tries) {
          const std::uint64_t v = rng.next();
          const auto c = static_cast<std::uint32_t>(((v >> 32) * static_cast<std::uint32_t>(E)) >> 32);
          e = static_cast<std::uint32_t>(v) < m.alias_threshold[dist + c] ? c : m.alias_other[dist + c];
          ok = fresh(e);
        }
        // ... and an exact draw without the chosen ones when skew makes repeats persist.
        if (!ok) e = draw_excluding(m, dist, slot, j, rng);
        slot[j] = static_cast<T>(e);
      }
    }
  }
}

}  // namespace

TraceSet synthesize(const SynthParams& p) {
  p.validate();
  const Model m = synth::build_model(p);
  TraceSet set;
  set.model.name = p.model_name;
  set.model.num_experts = p.experts;
  set.model.top_k = p.top_k;
  set.model.num_layers = p.num_layers;
  set.model.moe_layer_ids = p.moe_layer_ids;
  if (set.model.moe_layer_ids.empty())
    for (int l = 0; l < p.layers; ++l) set.model.moe_layer_ids.push_back(l);
  set.domains = p.domains;

  // Shapes first (cheap, serial prefix sum), so every request knows where its tokens go.
  std::vector<RequestShape> shapes(p.requests);
  const auto n = static_cast<std::ptrdiff_t>(p.requests);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t i = 0; i < n; ++i) shapes[static_cast<std::size_t>(i)] = draw_shape(p, static_cast<std::uint64_t>(i));
  set.requests.resize(p.requests);
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    Request& q = set.requests[i];
    q.id = std::to_string(i);
    q.domain = shapes[i].domain;
    q.token_offset = offset;
    q.prefill_tokens = shapes[i].prefill;
    q.decode_tokens = shapes[i].decode;
    offset += q.tokens();
  }

  const std::size_t per_token = static_cast<std::size_t>(p.layers) * p.top_k;
  const std::size_t total = offset * per_token;
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    // Uninitialised storage: every id is written below, by the thread that owns the request
    // (first touch places the pages near it).
    std::shared_ptr<T[]> ids(new T[std::max<std::size_t>(total, 1)]);
#pragma omp parallel for schedule(dynamic, 16)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const Request& q = set.requests[static_cast<std::size_t>(i)];
      generate_request<T>(m, p, static_cast<std::uint64_t>(i), shapes[static_cast<std::size_t>(i)],
                          ids.get() + q.token_offset * per_token);
    }
    const T* data = ids.get();
    set.ids = ExpertIds::view(std::shared_ptr<const void>(ids, data), data, total, sizeof(T));
  };
  if (id_width_for(p.experts) == 1)
    fill(std::uint8_t{});
  else
    fill(std::uint16_t{});
  set.provenance = {{"generator", "moeplan trace synth"}, {"seed", p.seed}};
  return set;
}

}  // namespace moeplan::trace
