// Error statistics, and the splitwise (static batches) and vidur (GEMM kernels) validators.
#include "moeplan/perf/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/zoo.hpp"

namespace moeplan::perf {

double pct_error(double measured, double predicted) { return 100.0 * (predicted - measured) / measured; }

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

namespace {

ErrorStats stats(const std::vector<double>& signed_pct) {
  std::vector<double> abs(signed_pct.size());
  std::transform(signed_pct.begin(), signed_pct.end(), abs.begin(), [](double x) { return std::fabs(x); });
  return {signed_pct.size(), quantile(abs, 0.5), quantile(abs, 0.9), quantile(signed_pct, 0.5)};
}

using Errors = std::map<std::string, std::vector<double>>;

std::map<std::string, ErrorStats> stats_of(const Errors& e) {
  std::map<std::string, ErrorStats> out;
  for (const auto& [metric, v] : e) out[metric] = stats(v);
  return out;
}

// Kernel timings and static batches carry no serving-engine behaviour, so they use the
// uncalibrated defaults unless a backend's entry is asked for explicitly (--backend).
Efficiency pick_efficiency(const ValidateOptions& o) {
  if (!o.calibration || o.backend.empty()) return Efficiency::defaults();
  const Calibration* c = o.calibration->find(o.backend, "bf16");
  if (!c) throw_usage("the calibration has no entry for backend \"" + o.backend + "\"");
  return c->efficiency;
}

}  // namespace

void ValidationReport::summarize() {
  Errors all;
  std::map<std::string, Errors> sub, grp;
  group_rows.clear();
  for (const RowPrediction& p : predictions) {
    ++group_rows[p.group];
    for (const auto& [metric, mp] : p.metrics) {
      double e = pct_error(mp.first, mp.second);
      all[metric].push_back(e);
      grp[p.group][metric].push_back(e);
      for (const std::string& s : p.subsets) sub[s][metric].push_back(e);
    }
  }
  overall = stats_of(all);
  by_subset.clear();
  by_group.clear();
  for (const auto& [k, e] : sub) by_subset[k] = stats_of(e);
  for (const auto& [k, e] : grp) by_group[k] = stats_of(e);
}

ValidationReport validate_splitwise(const std::vector<SplitwiseRow>& rows, const std::string& file, const ValidateOptions& o) {
  ValidationReport rep;
  rep.format = "splitwise";
  rep.file = file;
  rep.group_key = "model|hardware|tp";
  rep.rows = rows.size();
  const Efficiency eff = pick_efficiency(o);
  std::map<std::string, ModelSpec> models;
  std::map<std::string, Hardware> hws;
  for (const SplitwiseRow& r : rows) {
    std::string zoo_name = r.model == "llama2-70b" ? "llama-2-70b" : r.model == "bloom-176b" ? "bloom-176b" : "";
    // Power-capped H100 rows run on the same silicon; the cap is not modelled (docs/validation.md).
    std::string hw_name = r.hardware == "a100-80gb" ? "a100_sxm" : r.hardware.rfind("h100-80gb", 0) == 0 ? "h100_sxm" : "";
    if (zoo_name.empty() || hw_name.empty()) {
      rep.skipped.push_back({r.line, r.model + "|" + r.hardware, "unknown model or hardware name"});
      continue;
    }
    if (!models.count(zoo_name)) models.emplace(zoo_name, load_model(zoo_name));
    if (!hws.count(hw_name)) hws.emplace(hw_name, load_hardware(hw_name));
    ModelSpec& m = models.at(zoo_name);
    m.weights = WeightDTypes{DType::fp16, DType::fp16, DType::fp16, DType::fp16, DType::fp16};
    EstimateRequest q;
    q.model = &m;
    q.hardware = &hws.at(hw_name);
    q.parallel.tp = static_cast<int>(r.tp);
    q.workload = Workload{r.batch, r.input_tokens, r.output_tokens};
    q.precision = Precision{DType::fp16, DType::fp16};
    q.efficiency = eff;
    try {
      check_parallel(m, q.parallel, q.workload);
      double prompt = step_cost(q, r.batch, r.input_tokens, 0).time_s;
      double token = step_cost(q, r.batch, 1, r.input_tokens + r.output_tokens / 2 - 1).time_s;
      RowPrediction p;
      p.line = r.line;
      p.id = fmt::format("{}|{}|tp{}|b{}|{}x{}", r.model, r.hardware, r.tp, r.batch, r.input_tokens, r.output_tokens);
      p.group = fmt::format("{}|{}|{}", r.model, r.hardware, r.tp);
      p.subsets = {r.hardware};
      p.metrics["prompt_time_s"] = {r.prompt_time_s, prompt};
      p.metrics["token_time_s"] = {r.token_time_s, token};
      rep.predictions.push_back(std::move(p));
    } catch (const Error& e) {
      rep.skipped.push_back({r.line, r.model + "|" + r.hardware, e.what()});
    }
  }
  rep.summarize();
  return rep;
}

ValidationReport validate_vidur_mlp(const std::vector<VidurMlpRow>& rows, const std::string& file, const ValidateOptions& o) {
  ValidationReport rep;
  rep.format = "vidur-mlp";
  rep.file = file;
  rep.group_key = "hardware|model|tp";
  rep.rows = rows.size();
  const Efficiency eff = pick_efficiency(o);
  std::map<std::string, Hardware> hws;
  for (const VidurMlpRow& r : rows) {
    std::string hw_name = r.hardware == "h100" ? "h100_sxm" : r.hardware == "a100" ? "a100_sxm" : "";
    if (hw_name.empty()) {
      rep.skipped.push_back({r.line, r.model, "unknown hardware \"" + r.hardware + "\""});
      continue;
    }
    if (r.num_tokens < 128) {
      rep.skipped.push_back({r.line, r.model, "num_tokens < 128 (outside the GEMM accuracy target)"});
      continue;
    }
    if (!hws.count(hw_name)) hws.emplace(hw_name, load_hardware(hw_name));
    const Device d = make_device(hws.at(hw_name), eff, DType::fp16);
    const double T = static_cast<double>(r.num_tokens), H = static_cast<double>(r.n_embd);
    const double hd = H / static_cast<double>(r.n_head), tp = static_cast<double>(r.tp);
    const double q_heads = static_cast<double>(r.n_head) / tp;
    const double kv_heads = std::max(1.0, static_cast<double>(r.n_kv_head) / tp);
    const double F = static_cast<double>(r.n_expanded_embd) / tp;
    RowPrediction p;
    p.line = r.line;
    p.id = fmt::format("{}|tp{}|{}", r.model, r.tp, r.num_tokens);
    p.group = fmt::format("{}|{}|{}", r.hardware, r.model, r.tp);
    p.subsets = {r.hardware + "|" + r.model};
    p.metrics["attn_pre_proj_s"] = {r.qkv_s, gemm_cost(d, T, H, (q_heads + 2 * kv_heads) * hd, 2, 2, eff.gemm).time_s};
    p.metrics["attn_post_proj_s"] = {r.o_s, gemm_cost(d, T, q_heads * hd, H, 2, 2, eff.gemm).time_s};
    p.metrics["mlp_up_proj_s"] = {r.up_gate_s, gemm_cost(d, T, H, 2 * F, 2, 2, eff.gemm).time_s};
    p.metrics["mlp_down_proj_s"] = {r.down_s, gemm_cost(d, T, F, H, 2, 2, eff.gemm).time_s};
    // Timer resolution is 1 us: a zero reading cannot be compared.
    for (auto it = p.metrics.begin(); it != p.metrics.end();) it = it->second.first > 0 ? std::next(it) : p.metrics.erase(it);
    rep.predictions.push_back(std::move(p));
  }
  rep.summarize();
  return rep;
}

}  // namespace moeplan::perf
