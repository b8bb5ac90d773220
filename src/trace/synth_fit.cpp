// fit_like: a synthetic model of a real trace. The non-parametric part is copied from the
// trace (request shapes, per-domain/phase/layer popularity, each expert's most frequent
// next-layer partners); the scalars that shape the dynamics (stickiness, affinity, decode_mix)
// are calibrated by generating a trace of the real size, measuring it, and moving each
// scalar toward its metric's target (secant steps), a few rounds.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "moeplan/analysis/coverage.hpp"
#include "moeplan/analysis/imbalance.hpp"
#include "moeplan/analysis/loads.hpp"
#include "moeplan/analysis/prefill_decode.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/trace/synth.hpp"

namespace moeplan::trace {
namespace {

// Calibration runs on its own seed, so fitted parameters do not depend on --seed and the
// final trace is not the one the scalars were tuned on.
constexpr std::uint64_t kCalibrationSeed = 0xC0FFEE;
// A layer's max/mean may be this many times the tolerance of the means off.
constexpr double kLayerTolerance = 2.5;

// [domain][phase][layer][expert] selection counts of the real trace.
std::vector<double> count_popularity(const TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  const std::size_t per_phase = static_cast<std::size_t>(L) * E, per_token = set.ids_per_token();
  std::vector<std::uint64_t> c(set.domains.size() * 2 * per_phase, 0);
  set.ids.visit([&](auto ids) {
    for (const Request& q : set.requests)
      for (std::uint64_t t = 0; t < q.tokens(); ++t) {
        const auto* tok = ids.data() + (q.token_offset + t) * per_token;
        std::uint64_t* base = c.data() + (std::size_t{q.domain} * 2 + (t < q.prefill_tokens ? 0 : 1)) * per_phase;
        for (int l = 0; l < L; ++l)
          for (int k = 0; k < K; ++k) ++base[static_cast<std::size_t>(l) * E + tok[l * K + k]];
      }
  });
  std::vector<double> pop(c.begin(), c.end());
  // A (domain, phase) without tokens borrows the phase's counts over all domains, else the
  // domain's other phase: it is only sampled when requests are resampled.
  const std::size_t D = set.domains.size();
  auto block = [&](std::size_t d, int ph) { return pop.begin() + static_cast<std::ptrdiff_t>((d * 2 + ph) * per_phase); };
  auto empty = [&](std::size_t d, int ph) {
    return std::all_of(block(d, ph), block(d, ph) + static_cast<std::ptrdiff_t>(per_phase), [](double v) { return v == 0; });
  };
  for (std::size_t d = 0; d < D; ++d)
    for (int ph = 0; ph < 2; ++ph) {
      if (!empty(d, ph)) continue;
      for (std::size_t o = 0; o < D; ++o)
        if (o != d && !empty(o, ph))
          std::transform(block(d, ph), block(d, ph) + static_cast<std::ptrdiff_t>(per_phase), block(o, ph), block(d, ph), std::plus<>());
      if (empty(d, ph)) std::copy(block(d, 1 - ph), block(d, 1 - ph) + static_cast<std::ptrdiff_t>(per_phase), block(d, ph));
    }
  return pop;
}

// Each expert's most frequent partners at the next layer (up to floor(0.2 E), the size the
// layer coverage metric looks at), weighted by their counts, per (domain, phase): a map shared
// by the phases would pull decode routing toward prefill's. A row without data falls back to
// the phase over all domains, then to all tokens.
std::vector<std::vector<std::pair<int, double>>> fit_affinity(const TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  if (L < 2) return {};
  const std::size_t D = set.domains.size(), T = static_cast<std::size_t>(L - 1);
  const std::size_t EE = static_cast<std::size_t>(E) * E, per_token = set.ids_per_token();
  std::vector<std::uint32_t> c(D * 2 * T * EE, 0);  // [d][ph][transition][a][b]
  set.ids.visit([&](auto ids) {
    for (const Request& q : set.requests)
      for (std::uint64_t t = 0; t < q.tokens(); ++t) {
        const auto* tok = ids.data() + (q.token_offset + t) * per_token;
        std::uint32_t* base = c.data() + (std::size_t{q.domain} * 2 + (t < q.prefill_tokens ? 0 : 1)) * T * EE;
        for (std::size_t l = 0; l < T; ++l)
          for (int i = 0; i < K; ++i)
            for (int j = 0; j < K; ++j) ++base[l * EE + std::size_t{tok[l * K + i]} * E + tok[(l + 1) * K + j]];
      }
  });
  const int keep = E;
  std::vector<std::vector<std::pair<int, double>>> map(D * 2 * T * E);
  std::vector<std::uint64_t> row(static_cast<std::size_t>(E));
  std::vector<int> order(static_cast<std::size_t>(E));
  auto add_row = [&](std::size_t d, int ph, std::size_t l, int a) {
    const std::uint32_t* r = c.data() + ((d * 2 + static_cast<std::size_t>(ph)) * T + l) * EE + static_cast<std::size_t>(a) * E;
    std::uint64_t s = 0;
    for (int b = 0; b < E; ++b) row[static_cast<std::size_t>(b)] += r[b], s += r[b];
    return s;
  };
  for (std::size_t d = 0; d < D; ++d)
    for (int ph = 0; ph < 2; ++ph)
      for (std::size_t l = 0; l < T; ++l)
        for (int a = 0; a < E; ++a) {
          std::fill(row.begin(), row.end(), 0);
          std::uint64_t n = add_row(d, ph, l, a);
          for (std::size_t o = 0; o < D && n == 0; ++o) n += add_row(o, ph, l, a);
          for (std::size_t o = 0; o < D && n == 0; ++o) n += add_row(o, 1 - ph, l, a);
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int x, int y) {
            return row[static_cast<std::size_t>(x)] != row[static_cast<std::size_t>(y)] ? row[static_cast<std::size_t>(x)] > row[static_cast<std::size_t>(y)] : x < y;
          });
          auto& out = map[((d * 2 + static_cast<std::size_t>(ph)) * T + l) * E + static_cast<std::size_t>(a)];
          for (int i = 0; i < keep; ++i) {
            const int b = order[static_cast<std::size_t>(i)];
            if (row[static_cast<std::size_t>(b)] == 0) break;
            out.emplace_back(b, static_cast<double>(row[static_cast<std::size_t>(b)]));
          }
        }
  return map;
}

// Multiplies the correction factors of each (phase, layer, expert) by the ratio of real to
// synthetic load (damped, bounded overall), for all domains alike: the affinity and stickiness
// sources and the decode mixing distort the marginal loads a little, and this undoes it.
void update_correction(std::vector<double>& factor, const analysis::PhaseLoads& real,
                       const analysis::PhaseLoads& syn) {
  const std::size_t per_phase = real.prefill.counts.size();
  for (int ph = 0; ph < 2; ++ph) {
    const auto& want = ph == 0 ? real.prefill : real.decode;
    const auto& got = ph == 0 ? syn.prefill : syn.decode;
    for (std::size_t i = 0; i < per_phase; ++i) {
      if (want.counts[i] == 0) continue;
      const double ratio = got.counts[i] == 0 ? 2.0 : static_cast<double>(want.counts[i]) / static_cast<double>(got.counts[i]);
      auto& f = factor[static_cast<std::size_t>(ph) * per_phase + i];
      f = std::clamp(f * std::pow(ratio, 0.7), 1e-3, 1e3);
    }
  }
}

// The popularity used for generation: decode mixed toward prefill, then corrected.
std::vector<double> mixed_popularity(const std::vector<double>& base, const std::vector<double>& factor,
                                     std::size_t domains, std::size_t layers, int experts, double mix) {
  const std::size_t per_phase = layers * static_cast<std::size_t>(experts);
  std::vector<double> out(base.size());
  std::vector<double> pre(per_phase), dec(per_phase);
  for (std::size_t d = 0; d < domains; ++d) {
    const double* bp = base.data() + d * 2 * per_phase;
    const double* bd = bp + per_phase;
    for (std::size_t l = 0; l < layers; ++l) {
      // Mix normalised vectors, so the phases' token counts do not weigh in.
      double sp = 0, sd = 0;
      for (int e = 0; e < experts; ++e) sp += bp[l * experts + e], sd += bd[l * experts + e];
      for (int e = 0; e < experts; ++e) {
        const std::size_t i = l * experts + static_cast<std::size_t>(e);
        const double p = sp > 0 ? bp[i] / sp : 0, q = sd > 0 ? bd[i] / sd : 0;
        out[d * 2 * per_phase + i] = p * factor[i];
        out[(d * 2 + 1) * per_phase + i] = ((1 - mix) * q + mix * p) * factor[per_phase + i];
      }
    }
  }
  return out;
}

// One calibrated scalar x (in the units its metric moves most evenly in) and the metric it
// drives, which increases with x.
struct Knob {
  const char* name;
  bool log_scale;  // x is the log of the parameter
  double x, lo, hi, max_step, default_slope;
  double target = 0;
  std::function<void(SynthParams&, double)> apply;
  double last_x = 0, last_got = 0;
  bool has_last = false;

  void step(double got) {
    double slope = default_slope;
    if (has_last && std::abs(x - last_x) > 1e-4) {
      double s = (got - last_got) / (x - last_x);
      if (s > default_slope * 0.1) slope = std::min(s, default_slope * 20);
    }
    last_x = x, last_got = got, has_last = true;
    x = std::clamp(x + std::clamp((target - got) / slope, -max_step, max_step), lo, hi);
  }
};

double rel_err(double got, double want) { return want == 0 ? std::abs(got) : std::abs(got - want) / std::abs(want); }

}  // namespace

FitMetrics fit_metrics(const TraceSet& set) {
  FitMetrics m;
  const analysis::PhaseLoads loads = analysis::compute_loads(set);
  const analysis::Imbalance imb = analysis::compute_imbalance(loads.all);
  m.max_over_mean = imb.max_over_mean;
  m.max_over_mean_mean = imb.max_over_mean_mean;
  if (set.prefill_tokens() > 0 && set.decode_tokens() > 0) {
    auto pd = analysis::compare_phase_loads(loads);
    m.has_spearman = pd.spearman_mean.has_value();
    m.spearman_mean = pd.spearman_mean.value_or(0.0);
  }
  const analysis::Coverage cov = analysis::compute_coverage(set);
  m.layer_coverage = cov.layer_mean;
  m.token_coverage = cov.token_mean;
  return m;
}

SynthParams fit_like(const TraceSet& real, const FitOptions& options) {
  if (real.requests.empty() || real.num_tokens() == 0) throw_usage("--like: the trace has no tokens");
  auto log = [&](const std::string& s) {
    if (options.log) options.log(s);
  };
  SynthParams p;
  p.requests = real.requests.size();
  p.layers = real.model.moe_layers();
  p.experts = real.model.num_experts;
  p.top_k = real.model.top_k;
  p.moe_layer_ids = real.model.moe_layer_ids;
  p.num_layers = real.model.num_layers;
  p.model_name = real.model.name.empty() ? "synthetic" : "synthetic like " + real.model.name;
  p.domains = real.domains;
  for (const Request& q : real.requests) p.shapes.push_back({q.prefill_tokens, q.decode_tokens, q.domain});
  p.popularity = count_popularity(real);
  p.affinity_map = fit_affinity(real);
  // Nearly every slot follows the affinity map (its column balancing keeps the loads); the
  // layer coverage is matched by the map's sharpness instead, which keeps sets coherent.
  p.affinity = 0.98;

  const FitMetrics want = fit_metrics(real);
  const analysis::PhaseLoads real_loads = analysis::compute_loads(real);
  std::vector<Knob> knobs;
  knobs.push_back({"stickiness", false, 0.3, 0.0, 0.98, 0.3, 0.6, want.token_coverage,
                   [](SynthParams& q, double x) { q.stickiness = x; }});
  knobs.push_back({"affinity_sharpness", true, std::log(1.5), std::log(0.25), std::log(16.0), 0.7, 0.1,
                   want.layer_coverage, [](SynthParams& q, double x) { q.affinity_sharpness = std::exp(x); }});
  if (want.has_spearman)
    knobs.push_back({"decode_mix", false, 0.2, 0.0, 1.0, 0.3, 0.5, want.spearman_mean,
                     [](SynthParams& q, double x) { q.decode_mix = x; }});
  p.decode_mix = 0;

  // decode_mix is applied here (the correction factors must act after the mixing, so that
  // they can undo its effect on per-layer loads); the parameters carry the mixed popularity.
  const std::vector<double> base = p.popularity;
  std::vector<double> factor(2 * static_cast<std::size_t>(p.layers) * p.experts, 1.0);
  const std::vector<double> ones = factor;
  double mix = 0;
  SynthParams best = p;
  double best_err = INFINITY;
  nlohmann::json best_report;
  for (int round = 0; round < options.max_rounds; ++round) {
    for (auto& k : knobs) k.apply(p, k.x);
    mix = p.decode_mix;
    p.decode_mix = 0;
    p.popularity = mixed_popularity(base, ones, p.domains.size(), static_cast<std::size_t>(p.layers), p.experts, mix);
    // The loads are corrected where they are made: nearly all slots follow the affinity map.
    // (Layer 0 has no previous layer; its popularity-only draws need no correction.)
    if (p.layers > 1) p.affinity_bias = factor;
    SynthParams cal = p;
    cal.seed = kCalibrationSeed;
    const TraceSet gen = synthesize(cal);
    const FitMetrics got = fit_metrics(gen);
    const double got_metric[3] = {got.token_coverage, got.layer_coverage, got.spearman_mean};
    double worst = rel_err(got.max_over_mean_mean, want.max_over_mean_mean);
    std::string line = fmt::format("calibration round {}:", round + 1);
    for (std::size_t i = 0; i < knobs.size(); ++i) {
      worst = std::max(worst, rel_err(got_metric[i], knobs[i].target));
      line += fmt::format(" {} {:.4f} (metric {:.4f}, target {:.4f})", knobs[i].name,
                          knobs[i].log_scale ? std::exp(knobs[i].x) : knobs[i].x,
                          got_metric[i], knobs[i].target);
    }
    // Per layer too: a mean over layers can hide one badly fitted layer. Layers are noisier
    // than means (fewer draws), so they get a wider tolerance.
    double worst_layer = 0;
    for (std::size_t l = 0; l < want.max_over_mean.size(); ++l)
      worst_layer = std::max(worst_layer, rel_err(got.max_over_mean[l], want.max_over_mean[l]));
    worst = std::max(worst, worst_layer / kLayerTolerance);
    line += fmt::format(" max/mean {:.3f} (target {:.3f}, worst layer {:.1f}% off)", got.max_over_mean_mean,
                        want.max_over_mean_mean, 100 * worst_layer);
    log(line);
    if (worst < best_err) best_err = worst, best = p;
    if (worst <= options.tolerance) break;
    for (std::size_t i = 0; i < knobs.size(); ++i) knobs[i].step(got_metric[i]);
    update_correction(factor, real_loads, analysis::compute_loads(gen));
  }
  best.fit = best_report;
  return best;
}

}  // namespace moeplan::trace
