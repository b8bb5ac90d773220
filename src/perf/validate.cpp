// Error statistics, and the splitwise (static batches) and vidur (GEMM kernels) validators.
#include "moeplan/perf/validate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/zoo.hpp"
#include "perf/fit.hpp"

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
// uncalibrated defaults unless a backend's entry is asked for explicitly (--backend); an entry
// made for `hardware` is preferred to one for any hardware.
Efficiency pick_efficiency(const ValidateOptions& o, const std::string& hardware = "") {
  if (!o.calibration || o.backend.empty()) return Efficiency::defaults();
  const Calibration* c = o.calibration->find(o.backend, "bf16", hardware);
  if (!c) throw_usage("the calibration has no entry for backend \"" + o.backend + "\"" + (hardware.empty() ? "" : " on " + hardware));
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

namespace {

// Splitwise rows priced as one prefill step of the whole batch and one decode step at the mean
// context, in fp16 (the splitwise stack's format) on the AIConfigurator A100 / H100 systems.
class SplitwisePricer {
 public:
  // The AIConfigurator system a splitwise hardware name runs on ("" when unknown): its
  // calibration entry. The power-capped H100 is the same system with a capped clock.
  static std::string system_of(const std::string& hardware) {
    return hardware == "a100-80gb" ? "a100_sxm" : hardware.rfind("h100-80gb", 0) == 0 ? "h100_sxm" : "";
  }
  // The hardware preset the row is priced on.
  static std::string preset_of(const std::string& hardware) {
    return hardware == "h100-80gb-pcap" ? "h100_sxm_pcap70" : system_of(hardware);
  }
  // "" and the two times, or the reason the row cannot be priced.
  std::string price(const SplitwiseRow& r, const Efficiency& eff, double& prompt, double& token) {
    std::string zoo_name = r.model == "llama2-70b" ? "llama-2-70b" : r.model == "bloom-176b" ? "bloom-176b" : "";
    std::string hw_name = preset_of(r.hardware);
    if (zoo_name.empty() || hw_name.empty()) return "unknown model or hardware name";
    if (!models_.count(zoo_name)) {
      ModelSpec m = load_model(zoo_name);
      m.weights = WeightDTypes{DType::fp16, DType::fp16, DType::fp16, DType::fp16, DType::fp16};
      models_.emplace(zoo_name, std::move(m));
    }
    if (!hws_.count(hw_name)) hws_.emplace(hw_name, load_hardware(hw_name));
    EstimateRequest q;
    q.model = &models_.at(zoo_name);
    q.hardware = &hws_.at(hw_name);
    q.parallel.tp = static_cast<int>(r.tp);
    q.workload = Workload{r.batch, r.input_tokens, r.output_tokens};
    q.precision = Precision{DType::fp16, DType::fp16};
    q.efficiency = eff;
    try {
      check_parallel(*q.model, q.parallel, q.workload);
      prompt = step_cost(q, r.batch, r.input_tokens, 0).time_s;
      token = step_cost(q, r.batch, 1, r.input_tokens + r.output_tokens / 2 - 1).time_s;
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  }

 private:
  std::map<std::string, ModelSpec> models_;
  std::map<std::string, Hardware> hws_;
};

bool listed(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

ValidationReport validate_splitwise(const std::vector<SplitwiseRow>& rows, const std::string& file, const ValidateOptions& o) {
  ValidationReport rep;
  rep.format = "splitwise";
  rep.file = file;
  rep.group_key = "model|hardware|tp";
  rep.rows = rows.size();
  SplitwisePricer pricer;
  std::map<std::string, Efficiency> effs;  // per system
  for (const SplitwiseRow& r : rows) {
    const std::string sys = SplitwisePricer::system_of(r.hardware);
    if (!effs.count(sys)) effs.emplace(sys, pick_efficiency(o, sys));
    double prompt = 0, token = 0;
    if (std::string why = pricer.price(r, effs.at(sys), prompt, token); !why.empty()) {
      rep.skipped.push_back({r.line, r.model + "|" + r.hardware, why});
      continue;
    }
    RowPrediction p;
    p.line = r.line;
    p.id = fmt::format("{}|{}|tp{}|b{}|{}x{}", r.model, r.hardware, r.tp, r.batch, r.input_tokens, r.output_tokens);
    p.group = fmt::format("{}|{}|{}", r.model, r.hardware, r.tp);
    p.subsets = {r.hardware, r.model};
    p.metrics["prompt_time_s"] = {r.prompt_time_s, prompt};
    p.metrics["token_time_s"] = {r.token_time_s, token};
    rep.predictions.push_back(std::move(p));
  }
  rep.summarize();
  return rep;
}

CalibrationSet fit_splitwise(const std::vector<SplitwiseRow>& rows, const SplitwiseFitOptions& o) {
  std::map<std::string, std::vector<const SplitwiseRow*>> train;  // per system
  for (const SplitwiseRow& r : rows)
    if (listed(o.train_models, r.model) && listed(o.train_hardware, r.hardware) && !SplitwisePricer::system_of(r.hardware).empty())
      train[o.per_hardware ? SplitwisePricer::system_of(r.hardware) : std::string()].push_back(&r);
  if (train.empty()) throw_usage("no splitwise row matches the training models / hardware");
  CalibrationSet set;
  SplitwisePricer pricer;
  for (const auto& entry : train) {  // not a structured binding: clang 14 cannot capture one
    const std::string& sys = entry.first;
    const std::vector<const SplitwiseRow*>& fit_rows = entry.second;
    Calibration c;
    c.backend = o.backend;
    c.precision = "bf16";  // fp16 runs at the bf16 peak
    c.hardware = sys;
    c.fitted_rows = static_cast<int>(fit_rows.size());
    Efficiency& x = c.efficiency;
    x = Efficiency::defaults();
    x.decode_kernel_overhead_s = -1;  // no CUDA graphs: decode launches eagerly too
    // The large-message collective term starts switched on (32 MB, 0.1 of the link) so that
    // the search can move its two coupled values; it may fit itself away.
    x.comm_large_bytes = 32e6;
    x.comm_bw_large = 0.1;
    auto loss = [&] {
      double sum = 0;
      std::size_t n = 0;
      for (const SplitwiseRow* r : fit_rows) {
        double prompt = 0, token = 0;
        if (!pricer.price(*r, x, prompt, token).empty()) continue;
        sum += std::fabs(std::log(prompt / r->prompt_time_s)) + std::fabs(std::log(token / r->token_time_s));
        ++n;
      }
      return n ? sum / static_cast<double>(n) : 1e9;
    };
    std::vector<fit::Param> params = {
        {&x.gemm, 0.05, 0.95, false},
        {&x.gemm_m_half, 0, 2048, true},
        {&x.attention, 0.01, 0.95, false},
        {&x.mem_bw, 0.3, 1.0 / 0.8, false},
        {&x.comm_bw, 0.05, 1.0, false},
        // Eager launches and Python dispatch per operator: at most 200 us.
        {&x.kernel_overhead_s, 0, 200e-6, true},
        {&x.step_overhead_s, 0, 50e-3, true},
        // Per sequence of the batch and step (the 2024 stack's decode grows ~0.3 ms a sequence).
        {&x.seq_overhead_s, 0, 2e-3, true},
        // Software latency per ring step of a collective: at most 100 us.
        {&x.comm_hop_overhead_s, 0, 100e-6, true},
        // Unfused elementwise traffic: 1x to 40x the fused 8 x T x H x a bytes per layer.
        {&x.elementwise_factor, 1, 40, false},
        // Collectives of at least comm_large_bytes run at comm_bw_large (0 to 256 MB).
        {&x.comm_large_bytes, 0, 256e6, true},
        {&x.comm_bw_large, 0.01, 1.0, false},
    };
    fit::coordinate_search(params, loss);
    set.entries.push_back(c);
  }
  return set;
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
