#include "moeplan/analysis/report.hpp"

#include <fmt/format.h>

namespace moeplan::analysis {

Report analyze(const trace::TraceSet& set, const ReportOptions& options) {
  Report r;
  r.counts = compute_counts(set);
  const PhaseLoads loads = compute_loads(set);
  const bool has[3] = {r.counts.prefill_tokens > 0, r.counts.decode_tokens > 0,
                       r.counts.prefill_tokens + r.counts.decode_tokens > 0};
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all}) {
    const auto i = static_cast<std::size_t>(p);
    if (has[i] && (!options.phase || *options.phase == p)) r.imbalance[i] = compute_imbalance(loads[p]);
  }
  if (has[0] && has[1]) r.prefill_decode = compute_prefill_decode(set, loads);
  if (has[2]) r.coverage = compute_coverage(set);
  return r;
}

nlohmann::ordered_json to_json(const Report& r) {
  nlohmann::ordered_json j;
  j["counts"] = to_json(r.counts);
  nlohmann::ordered_json imb = nlohmann::ordered_json::object();
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all})
    if (const auto& m = r.imbalance[static_cast<std::size_t>(p)]) imb[phase_sel_name(p)] = to_json(*m);
  j["imbalance"] = imb;
  if (r.prefill_decode) j["prefill_decode"] = to_json(*r.prefill_decode);
  j["layer_coverage_top20"] = layer_coverage_json(r.coverage);
  j["token_coverage_top20"] = token_coverage_json(r.coverage);
  return j;
}

std::string summary_text(const Report& r, PhaseSel phase) {
  const Counts& c = r.counts;
  std::string s = fmt::format("trace          {} requests, {} prefill + {} decode tokens\n", c.requests,
                              c.prefill_tokens, c.decode_tokens);
  s += fmt::format("model          {} MoE layers, {} experts, top-{}\n", c.moe_layers, c.experts, c.top_k);
  if (const auto& m = r.imbalance[static_cast<std::size_t>(phase)]) {
    s += fmt::format("imbalance      ({}, mean over layers) max/mean {:.2f}, cv {:.3f}, gini {:.3f}, "
                     "norm. entropy {:.3f}\n",
                     phase_sel_name(phase), m->max_over_mean_mean, m->cv_mean, m->gini_mean,
                     m->norm_entropy_mean);
    s += fmt::format("hot experts    {} (load > {}x layer mean)\n", m->hot_experts.size(), kHotFactor);
  } else {
    s += fmt::format("imbalance      ({}) no tokens in this phase\n", phase_sel_name(phase));
  }
  if (const auto& pd = r.prefill_decode) {
    auto show = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f}", *v) : std::string("n/a"); };
    s += fmt::format("prefill/decode spearman {}, pearson {}, top-10 overlap {:.3f}, per-request pearson {} ({} requests)\n",
                     show(pd->spearman_mean), show(pd->pearson_mean), pd->topk_overlap_mean[1],
                     show(pd->per_request_pearson_mean), pd->per_request_pearson_used);
  }
  s += fmt::format("coverage top20 next layer {:.3f}, next token {:.3f}\n", r.coverage.layer_mean,
                   r.coverage.token_mean);
  return s;
}

}  // namespace moeplan::analysis
