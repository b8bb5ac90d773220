// The synthetic generator: SynthParams -> TraceSet, parallel over requests.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/synth.hpp"
#include "trace/synth_model.hpp"
#include "trace/synth_rng.hpp"

namespace moeplan::trace {
namespace {

using synth::Model;
using synth::Rng;

// Draws that repeat a chosen expert are retried this many times before an exact (linear) draw
// among the unchosen takes over: affinity rows are short and often sharp (few tries pay), the
// popularity spans all experts (more tries pay before a scan of E weights does).
constexpr int kPartnerTries = 4;
constexpr std::uint32_t kShortRow = 8;
constexpr int kPopularTries = 16;

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

// The experts already chosen in the current token-layer, as a bitset: membership is one load
// and a shift whatever k is, where scanning the chosen slots costs a branch per slot.
class Taken {
 public:
  explicit Taken(int experts) : bits_((static_cast<std::size_t>(experts) + 63) / 64, 0) {}
  bool has(std::uint32_t e) const { return (bits_[e >> 6] >> (e & 63)) & 1; }
  void add(std::uint32_t e) { bits_[e >> 6] |= std::uint64_t{1} << (e & 63); }
  void remove(std::uint32_t e) { bits_[e >> 6] &= ~(std::uint64_t{1} << (e & 63)); }

 private:
  std::vector<std::uint64_t> bits_;
};

// The cell of an n-cell alias table that the high half of 64 random bits picks.
inline std::uint32_t alias_cell(std::uint32_t n, std::uint64_t bits) {
  return static_cast<std::uint32_t>(((bits >> 32) * n) >> 32);
}
// `keep` when the low half of the bits is below the cell's threshold, else `other`. Without a
// branch: the comparison is a coin flip that no predictor learns, and mispredictions were most
// of the generator's time.
inline std::uint32_t alias_choose(std::uint64_t bits, std::uint32_t threshold, std::uint32_t keep, std::uint32_t other) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(static_cast<std::uint32_t>(bits) < threshold);
  return (keep & mask) | (other & ~mask);
}

// Exact draw of an untaken partner from row entries [begin, end) in proportion to the weights;
// false when every partner of the row is taken. Cold: only after an alias draw repeated.
[[gnu::noinline]] bool scan_partner(const Model& m, std::uint32_t begin, std::uint32_t end, const Taken& taken,
                                    Rng& rng, std::uint32_t& out) {
  double total = 0;
  for (std::uint32_t i = begin; i < end; ++i)
    if (!taken.has(m.partners[i].expert)) total += m.aff_p[i];
  if (!(total > 0)) return false;
  double u = rng.uniform() * total;
  std::uint32_t last = begin;
  for (std::uint32_t i = begin; i < end; ++i) {
    if (taken.has(m.partners[i].expert)) continue;
    last = i;
    if ((u -= m.aff_p[i]) < 0) break;
  }
  out = m.partners[last].expert;  // also the last untaken partner when rounding leaves u >= 0
  return true;
}

// An affinity partner from row entries [begin, end) that is not taken, drawn with probability
// proportional to its weight among those; false when every partner of the row is taken.
// Alias draws are retried a few times; the exact scan takes over when repeats persist (a sharp
// row whose strongest partners are already in the set). Inlined, like draw_popular: the
// generator's state then stays in registers.
inline bool draw_partner(const Model& m, std::uint32_t begin, std::uint32_t end, const Taken& taken, Rng& rng,
                         std::uint32_t& out) {
  const std::uint32_t n = end - begin;
  // A short row is scanned as soon as one draw repeats: its partners are then likely all taken
  // (parametric rows have a handful), and the scan costs less than failing tries.
  const int tries = n <= kShortRow ? 1 : kPartnerTries;
  for (int t = 0; t < tries; ++t) {
    const std::uint64_t bits = rng.next();
    const Model::Partner& cell = m.partners[begin + alias_cell(n, bits)];
    const std::uint32_t e = alias_choose(bits, cell.threshold, cell.expert, m.partners[begin + cell.alias].expert);
    if (!taken.has(e)) [[likely]]
      return out = e, true;
  }
  return scan_partner(m, begin, end, taken, rng, out);
}

// Exact draw of an untaken expert of popularity `dist` (j are taken) in proportion to the
// weights. Cold: only when skew makes alias draws keep repeating.
[[gnu::noinline]] std::uint32_t scan_popular(const Model& m, std::size_t dist, const Taken& taken, int j, Rng& rng) {
  const auto E = static_cast<std::uint32_t>(m.experts);
  const double* w = m.weights.data() + dist;
  double total = 0;
  for (std::uint32_t e = 0; e < E; ++e)
    if (!taken.has(e)) total += w[e];
  if (total > 0) {
    double u = rng.uniform() * total;
    std::uint32_t last = 0;
    for (std::uint32_t e = 0; e < E; ++e) {
      if (taken.has(e) || w[e] <= 0) continue;
      last = e;
      if ((u -= w[e]) < 0) break;
    }
    return last;
  }
  // Fewer experts with weight than k: the rest uniformly among the untaken.
  std::uint32_t r = rng.below(E - static_cast<std::uint32_t>(j));
  for (std::uint32_t e = 0;; ++e)
    if (!taken.has(e) && r-- == 0) return e;
}

// An expert of popularity `dist` that is not taken, with probability proportional to its
// weight among those: alias draws, retried on repeats, then the exact scan.
inline std::uint32_t draw_popular(const Model& m, std::size_t dist, const Taken& taken, int j, Rng& rng) {
  const auto E = static_cast<std::uint32_t>(m.experts);
  for (int tries = 0; tries < kPopularTries; ++tries) {
    const std::uint64_t bits = rng.next();
    const std::uint32_t c = alias_cell(E, bits);
    const std::uint32_t e = alias_choose(bits, m.alias[dist + c].threshold, c, m.alias[dist + c].other);
    if (!taken.has(e)) [[likely]]
      return e;
  }
  return scan_popular(m, dist, taken, j, rng);
}

// Fills one request's routing [token][layer][k] at `out`.
template <class T>
[[gnu::flatten]] void generate_request(const Model& m, const SynthParams& p, std::uint64_t index,
                      const RequestShape& shape, T* out) {
  Rng rng(p.seed, synth::kSaltTokens, index);
  const int L = m.layers, K = m.top_k;
  const std::size_t per_token = static_cast<std::size_t>(L) * K;
  const std::uint32_t tokens = shape.prefill + shape.decode;
  Taken taken(m.experts);
  // Layer-major: token t at layer l needs only token t - 1 at l (stickiness) and token t at
  // l - 1 (affinity), so a whole layer can be done before the next. Each layer's popularity
  // and affinity rows then stay in cache for all of the request's tokens; token-major order
  // touched every layer's tables per token and spent most of its time in cache misses.
  for (int l = 0; l < L; ++l) {
    for (std::uint32_t t = 0; t < tokens; ++t) {
      T* cur = out + t * per_token;
      const T* prev = t > 0 ? cur - per_token : nullptr;
      const int phase = t < shape.prefill ? 0 : 1;
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
        // Each slot follows the anchor's partners with probability `affinity` (while the row
        // has untaken partners), else the layer's popularity; both exclude the taken experts.
        std::uint32_t e = 0;
        const bool follow = row_begin < row_end && (rng.next() >> 32) < m.aff;
        if (!(follow && draw_partner(m, row_begin, row_end, taken, rng, e))) e = draw_popular(m, dist, taken, j, rng);
        taken.add(e);
        slot[j] = static_cast<T>(e);
      }
      for (int j = 0; j < K; ++j) taken.remove(slot[j]);
    }
  }
}

}  // namespace

TraceSet synthesize(const SynthParams& p, const Progress& progress) {
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
    std::atomic<std::size_t> done{0};
#pragma omp parallel for schedule(dynamic, 16)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const Request& q = set.requests[static_cast<std::size_t>(i)];
      generate_request<T>(m, p, static_cast<std::uint64_t>(i), shapes[static_cast<std::size_t>(i)],
                          ids.get() + q.token_offset * per_token);
      const std::size_t d = ++done;
      if (progress && (d % 256 == 0 || d == static_cast<std::size_t>(n))) {
#pragma omp critical(moeplan_synth_progress)
        progress(d, static_cast<std::size_t>(n));
      }
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
