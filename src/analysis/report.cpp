#include "moeplan/analysis/report.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace moeplan::analysis {

Report analyze(const trace::TraceSet& set, const ReportOptions& options) {
  // Passes over the routing: counts, loads, prefill/decode, coverage, co-activation, domains.
  constexpr std::size_t kPasses = 6;
  std::size_t pass = 0;
  auto step = [&] {
    if (options.progress) options.progress(++pass, kPasses);
  };
  Report r;
  r.counts = compute_counts(set);
  step();
  r.moe_layer_ids = set.model.moe_layer_ids;
  r.loads = compute_loads(set);
  step();
  const bool has[3] = {r.counts.prefill_tokens > 0, r.counts.decode_tokens > 0,
                       r.counts.prefill_tokens + r.counts.decode_tokens > 0};
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all}) {
    const auto i = static_cast<std::size_t>(p);
    if (has[i] && (!options.phase || *options.phase == p)) r.imbalance[i] = compute_imbalance(r.loads[p]);
  }
  if (has[0] && has[1]) r.prefill_decode = compute_prefill_decode(set, r.loads);
  step();
  if (has[2]) r.coverage = compute_coverage(set);
  step();
  if (has[2] && set.model.top_k > 1) r.coactivation = compute_coactivation(set);
  step();
  if (active_domains(set) >= 2) r.domains = compute_domains(set);
  step();
  return r;
}

nlohmann::ordered_json to_json(const Report& r) {
  nlohmann::ordered_json j;
  j["counts"] = to_json(r.counts);
  j["moe_layer_ids"] = r.moe_layer_ids;
  nlohmann::ordered_json imb = nlohmann::ordered_json::object();
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all})
    if (const auto& m = r.imbalance[static_cast<std::size_t>(p)]) imb[phase_sel_name(p)] = to_json(*m);
  j["imbalance"] = imb;
  if (r.prefill_decode) j["prefill_decode"] = to_json(*r.prefill_decode);
  j["layer_coverage_top20"] = layer_coverage_json(r.coverage);
  j["token_coverage_top20"] = token_coverage_json(r.coverage);
  if (r.coactivation) j["coactivation"] = to_json(*r.coactivation);
  if (r.domains) j["domains"] = to_json(*r.domains);
  return j;
}

namespace {

std::string show(const std::optional<double>& v, const char* spec = "{:.3f}") {
  return v ? fmt::format(fmt::runtime(spec), *v) : std::string("n/a");
}

// The per-layer imbalance table in up to three side-by-side blocks, so that even 60 layers
// fit in about 20 lines.
std::string imbalance_table(const Imbalance& m, const std::vector<int>& ids) {
  const int L = static_cast<int>(m.cv.size());
  const int blocks = L <= 12 ? 1 : L <= 40 ? 2 : 3;
  const int rows = (L + blocks - 1) / blocks;
  std::string s;
  for (int b = 0; b < blocks && b < L; ++b) s += "  lyr  id max/mean    cv  gini  entr";
  s += "\n";
  for (int row = 0; row < rows; ++row) {
    for (int b = 0; b < blocks; ++b) {
      const int l = b * rows + row;
      if (l >= L) break;
      const auto i = static_cast<std::size_t>(l);
      s += fmt::format("  {:3d} {:3d} {:8.2f} {:5.2f} {:5.3f} {:5.3f}", l, ids[i], m.max_over_mean[i],
                       m.cv[i], m.gini[i], m.norm_entropy[i]);
    }
    s += "\n";
  }
  s += fmt::format("  mean    {:8.2f} {:5.2f} {:5.3f} {:5.3f}\n", m.max_over_mean_mean, m.cv_mean,
                   m.gini_mean, m.norm_entropy_mean);
  return s;
}

// "0.512 (min 0.301 at 3, max 0.700 at 7)" over a per-layer (or per-pair) array.
std::string spread(const std::vector<double>& v, double mean, const std::vector<std::string>& names) {
  if (v.empty()) return "n/a";
  const auto lo = std::min_element(v.begin(), v.end()) - v.begin();
  const auto hi = std::max_element(v.begin(), v.end()) - v.begin();
  return fmt::format("{:.3f} (min {:.3f} at {}, max {:.3f} at {})", mean, v[static_cast<std::size_t>(lo)],
                     names[static_cast<std::size_t>(lo)], v[static_cast<std::size_t>(hi)],
                     names[static_cast<std::size_t>(hi)]);
}

}  // namespace

std::string summary_text(const Report& r, PhaseSel phase) {
  const Counts& c = r.counts;
  const int L = c.moe_layers;
  std::string s = fmt::format("Trace: {} requests, {} prefill + {} decode tokens\n", c.requests,
                              c.prefill_tokens, c.decode_tokens);
  s += fmt::format("Model: {} MoE layers (model layers {}..{}), {} experts, top-{}\n", L,
                   r.moe_layer_ids.empty() ? 0 : r.moe_layer_ids.front(),
                   r.moe_layer_ids.empty() ? 0 : r.moe_layer_ids.back(), c.experts, c.top_k);

  s += fmt::format("\nLoad imbalance per MoE layer ({} tokens; lyr = position, id = model layer)\n",
                   phase_sel_name(phase));
  if (const auto& m = r.imbalance[static_cast<std::size_t>(phase)]) {
    s += imbalance_table(*m, r.moe_layer_ids);
    std::vector<HotExpert> hot = m->hot_experts;
    std::stable_sort(hot.begin(), hot.end(),
                     [](const HotExpert& a, const HotExpert& b) { return a.load_over_mean > b.load_over_mean; });
    int layers_with_hot = 0;
    for (std::size_t i = 0; i < m->hot_experts.size(); ++i)
      layers_with_hot += i == 0 || m->hot_experts[i].layer_index != m->hot_experts[i - 1].layer_index;
    s += fmt::format("\nHot experts (load > {}x layer mean): {} in {} layers", kHotFactor, hot.size(), layers_with_hot);
    s += hot.empty() ? "\n" : "; strongest:\n";
    for (std::size_t i = 0; i < hot.size() && i < 5; ++i)
      s += fmt::format("  layer {:2d} (model {:2d}) expert {:3d}  {:6.1f}x mean\n", hot[i].layer_index,
                       r.moe_layer_ids[static_cast<std::size_t>(hot[i].layer_index)], hot[i].expert,
                       hot[i].load_over_mean);
  } else {
    s += "  no tokens in this phase\n";
  }

  if (const auto& pd = r.prefill_decode) {
    s += "\nPrefill vs decode (per-layer expert loads, mean over layers)\n";
    s += fmt::format("  spearman {}  pearson {}  top-5/10/20 overlap {:.2f}/{:.2f}/{:.2f}\n",
                     show(pd->spearman_mean), show(pd->pearson_mean), pd->topk_overlap_mean[0],
                     pd->topk_overlap_mean[1], pd->topk_overlap_mean[2]);
    s += fmt::format("  per-request pearson {} over {} requests with both phases\n",
                     show(pd->per_request_pearson_mean), pd->per_request_pearson_used);
  } else {
    s += "\nPrefill vs decode: n/a (the trace lacks one of the phases)\n";
  }

  std::vector<std::string> pair_names, layer_names;
  for (int l = 0; l < L; ++l) {
    layer_names.push_back(std::to_string(l));
    if (l + 1 < L) pair_names.push_back(fmt::format("{}-{}", l, l + 1));
  }
  s += fmt::format("\nTemporal correlation (share of transitions hit by each expert's top {} successors)\n",
                   c.experts / 5);
  s += "  next MoE layer  " + spread(r.coverage.layer_pairs, r.coverage.layer_mean, pair_names) + "\n";
  s += "  next token      " + spread(r.coverage.token_layers, r.coverage.token_mean, layer_names) + "\n";

  if (const auto& co = r.coactivation) {
    s += "\nCo-activation (expert pairs selected by the same token, mean over layers)\n";
    s += fmt::format("  top 10% of pairs carry {:.3f} of co-selections (uniform: 0.100); max lift {:.1f}\n",
                     co->top10_pair_share_mean, co->max_lift_mean);
  } else {
    s += "\nCo-activation: n/a (top-1 routing)\n";
  }

  if (const auto& d = r.domains) {
    s += fmt::format("\nDomain separation ({} domains)\n", d->labels.size());
    double js_max = 0, js_sum = 0;
    std::string js_arg;
    int pairs = 0;
    for (std::size_t a = 0; a < d->labels.size(); ++a)
      for (std::size_t b = a + 1; b < d->labels.size(); ++b, ++pairs) {
        js_sum += d->js_divergence[a][b];
        if (d->js_divergence[a][b] >= js_max) js_max = d->js_divergence[a][b], js_arg = d->labels[a] + "|" + d->labels[b];
      }
    if (pairs == 1)
      s += fmt::format("  JS divergence {} {:.3f} bits (mean over layers)\n", js_arg, js_max);
    else
      s += fmt::format("  JS divergence mean {:.3f} bits over {} pairs, max {:.3f} ({})\n", js_sum / pairs, pairs,
                       js_max, js_arg);
    if (d->loo_accuracy) {
      const std::uint64_t majority = *std::max_element(d->requests.begin(), d->requests.end());
      std::uint64_t total = 0;
      for (auto n : d->requests) total += n;
      s += fmt::format("  PRIVACY RISK: routing alone reveals the domain of {:.1f}% of requests ({}/{}, "
                       "leave-one-out\n  nearest centroid; guessing the largest domain: {:.1f}%)\n",
                       100 * *d->loo_accuracy, d->loo_correct, d->loo_requests,
                       100.0 * static_cast<double>(majority) / static_cast<double>(total));
    }
  } else {
    s += "\nDomain separation: n/a (fewer than 2 domains)\n";
  }
  return s;
}

}  // namespace moeplan::analysis
