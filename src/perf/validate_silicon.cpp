// The AIConfigurator silicon rows: each row becomes a serving estimate at its concurrency
// (aggregated or disaggregated), and the dense rows fit the calibration.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/validate.hpp"
#include "moeplan/perf/zoo.hpp"
#include "perf/fit.hpp"

namespace moeplan::perf {

namespace {

// HuggingFace ids in the silicon file -> bundled zoo configs: these, else the zoo's own match
// (zoo_name_for_id: the exact id or the same model under another release or format tag).
// GLM-5 is served in fp8 from the same architecture as the bundled NVFP4 config (formats
// come from the row).
std::string zoo_name_for(const std::string& model_path) {
  static const std::map<std::string, const char*> kMap = {
      {"deepseek-ai/DeepSeek-V3", "deepseek-v3"},      {"deepseek-ai/DeepSeek-R1", "deepseek-r1"},
      {"Qwen/Qwen3-235B-A22B-FP8", "qwen3-235b-a22b-fp8"}, {"Qwen/Qwen3-32B", "qwen3-32b"},
      {"Qwen/Qwen3.5-397B-A17B", "qwen3.5-397b"},      {"MiniMaxAI/MiniMax-M2.5", "minimax-m2.5"},
      {"meta-llama/Llama-3.1-70B", "llama-3.1-70b"},   {"meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"},
      {"nvidia/Llama-3.1-8B-Instruct-FP8", "llama-3.1-8b"}, {"moonshotai/Kimi-K2.5", "kimi-k2.5"},
      {"openai/gpt-oss-120b", "gpt-oss-120b"},         {"zhipuai/GLM-5", "glm-5"},
  };
  auto it = kMap.find(model_path);
  return it == kMap.end() ? zoo_name_for_id(model_path) : it->second;
}

// The weight format of an AIConfigurator GEMM / MoE quantization mode (its GEMMQuantMode and
// MoEQuantMode names: float16, bfloat16, fp8, fp8_block, fp8_ootb, fp8_static, sq, int8_wo,
// int4_wo, w4afp8, nvfp4, w4a16_mxfp4, w4a8_mxfp4_mxfp8, ...).
std::optional<DType> quant_dtype(const std::string& q) {
  if (q.empty() || q == "bf16" || q == "bfloat16" || q == "float16" || q == "fp16" || q == "half") return DType::bf16;
  if (q.rfind("fp8", 0) == 0) return DType::fp8;
  if (q.rfind("int4", 0) == 0 || q == "w4a16" || q == "w4afp8") return DType::int4;
  if (q == "nvfp4" || q == "mxfp4" || q == "fp4" || q.rfind("w4a16_mxfp4", 0) == 0 || q.rfind("w4a8_mxfp4", 0) == 0 ||
      q.rfind("w4a8_nvfp4", 0) == 0)
    return DType::fp4;
  if (q.rfind("int8", 0) == 0 || q == "sq") return DType::int8;
  return std::nullopt;
}

// The format a GEMM mode quantizes its inputs to: 8-bit modes run W8A8 (int8_wo is weight-only),
// W4A8 modes take fp8 inputs, nvfp4 runs W4A4 where the GPU has fp4 tensor cores (Blackwell);
// the other 4-bit modes are weight-only and compute in bf16.
DType gemm_input_dtype(const std::string& q, DType weights, const Hardware& hw) {
  if (weights == DType::fp8) return DType::fp8;
  if (weights == DType::int8) return q == "int8_wo" ? DType::bf16 : DType::int8;
  if (q == "w4afp8" || q.rfind("w4a8_", 0) == 0) return DType::fp8;
  if ((q == "nvfp4" || q == "fp4") && hw.fp4_flops_per_s > 0) return DType::fp4;
  return DType::bf16;
}

struct Prepared {
  std::shared_ptr<ModelSpec> model;
  std::shared_ptr<Hardware> hw;
  Precision precision;
  std::string calib_precision;
  bool moe = false;
};

class Cache {
 public:
  std::shared_ptr<ModelSpec> model(const std::string& zoo) {
    auto& m = models_[zoo];
    if (!m) m = std::make_shared<ModelSpec>(load_model(zoo));
    return m;
  }
  std::shared_ptr<Hardware> hw(const std::string& name) {
    auto& h = hws_[name];
    if (!h) h = std::make_shared<Hardware>(load_hardware(name));
    return h;
  }

 private:
  std::map<std::string, std::shared_ptr<ModelSpec>> models_;
  std::map<std::string, std::shared_ptr<Hardware>> hws_;
};

// Model, hardware and formats of a row; a skip reason when they cannot be had.
std::string prepare(const SiliconRow& r, Cache& cache, Prepared& out) {
  const std::string zoo = zoo_name_for(r.model_path);
  if (zoo.empty()) return "model \"" + r.model_path + "\" has no bundled config";
  auto g = quant_dtype(r.gemm_quant), e = quant_dtype(r.moe_quant);
  if (!g || !e) return "unknown quantization mode \"" + r.gemm_quant + "\" / \"" + r.moe_quant + "\"";
  auto base = cache.model(zoo);
  out.hw = cache.hw(r.system);
  auto m = std::make_shared<ModelSpec>(*base);
  // Weights follow the row, except where a 4-bit mode cannot apply: Hopper has no fp4 tensor
  // cores, and int4 weight-only GEMMs come from the checkpoint's own quantization (engines do
  // not quantize to int4 online), so the modules it leaves out (Kimi-K2.5: attention, shared
  // experts and dense FFNs in bf16) keep the checkpoint's format.
  const bool keep_checkpoint = (*g == DType::fp4 && out.hw->fp4_flops_per_s <= 0) || *g == DType::int4;
  if (!keep_checkpoint) {
    m->weights.attention = m->weights.dense_ffn = m->weights.shared_experts = *g;
  }
  m->weights.experts = *e;
  out.model = m;
  out.moe = m->is_moe();
  out.precision.activations = gemm_input_dtype(r.gemm_quant, *g, *out.hw);
  // TensorRT-LLM's quantized recipes (fp8, int8, fp4 inputs) keep the KV cache in fp8; vLLM
  // and SGLang keep it in bf16 unless told otherwise.
  const bool quantized_inputs = out.precision.activations != DType::bf16;
  out.precision.kv_cache = (quantized_inputs && r.backend == "trtllm") ? DType::fp8 : DType::bf16;
  out.calib_precision = calibration_class(out.precision.activations);
  return {};
}

// Checks one AIConfigurator layout and turns it into moeplan's Parallel.
std::string to_parallel(const SiliconLayout& l, bool moe, Parallel& p) {
  p.tp = static_cast<int>(l.tp.value_or(1));
  p.pp = static_cast<int>(l.pp.value_or(1));
  p.dp = static_cast<int>(l.attention_dp.value_or(1));
  const std::int64_t moe_tp = l.moe_tp.value_or(1), moe_ep = l.moe_ep.value_or(1);
  if (moe_tp < 1 || moe_ep < 1) return fmt::format("moe_tp_size {} / moe_ep_size {} must be >= 1", moe_tp, moe_ep);
  if (!moe) {
    if (moe_ep != 1) return fmt::format("dense model with moe_ep_size {}", moe_ep);
    p.ep = 1;
    return {};
  }
  if (moe_tp * moe_ep != static_cast<std::int64_t>(p.tp) * p.dp)
    return fmt::format("moe_tp_size {} x moe_ep_size {} != tp_size {} x attention_dp_size {}", moe_tp, moe_ep, p.tp, p.dp);
  p.ep = static_cast<int>(moe_ep);
  return {};
}

// The layout an aggregated row was measured on. Some sources write an expert-parallel
// deployment with its GPU count multiplied by the EP degree: the row `..._c4_tp8_ep8_954`
// (8 GPUs, attention TP 8, experts EP 8) has tp_size 64, moe_tp_size 8, moe_ep_size 8, and
// its TPOT and TTFT are identical to the digit to those of `..._c4_tp8_0_ep8_0_1252`, which
// gives tp_size 8, moe_ep_size 8. When the id names `tpX_epY` (Y > 1: X GPUs, EP Y) and the
// columns hold X x Y GPUs, the deployment is the id's: the attention-DP ranks (else the TP
// ranks) divided by Y, experts over ep = Y with moe_tp = X / Y.
SiliconLayout deployed_layout(const SiliconRow& r) {
  SiliconLayout l = r.agg;
  const std::size_t at = r.id.rfind("_tp");
  if (at == std::string::npos) return l;
  long long x = 0, y = 0;
  char sep[3] = {};
  // `_tpX_epY_N` (the `_tpX_0_epY_0_N` form of other sources does not parse: its columns agree)
  if (std::sscanf(r.id.c_str() + at, "_tp%lld_ep%lld%2[_]", &x, &y, sep) != 3 || x < 1 || y < 2) return l;
  const long long tp = l.tp.value_or(1), dp = l.attention_dp.value_or(1);
  if (tp * dp != x * y || x % y != 0) return l;
  if (dp % y == 0) l.attention_dp = dp / y;
  else if (tp % y == 0) l.tp = tp / y;
  else return l;
  l.moe_ep = y;
  l.moe_tp = x / y;
  return l;
}

struct Predicted {
  double ttft_s = 0, tpot_s = 0;
};

std::string predict(const SiliconRow& r, const Prepared& pr, const Calibration* cal, Predicted& out) {
  EstimateRequest q;
  q.model = pr.model.get();
  q.hardware = pr.hw.get();
  q.precision = pr.precision;
  q.efficiency = cal ? cal->efficiency : Efficiency::defaults();
  const ServingParams sp = cal ? cal->serving : ServingParams{};
  const ServingWorkload w{r.concurrency, r.isl, r.osl};
  try {
    if (r.mode == "agg") {
      if (std::string why = to_parallel(deployed_layout(r), pr.moe, q.parallel); !why.empty()) return why;
      ServingEstimate e = serve_aggregated(q, w, sp);
      out = {e.ttft_s, e.tpot_s};
    } else {
      DisaggLayout d;
      d.prefill = q;
      d.decode = q;
      if (std::string why = to_parallel(r.prefill, pr.moe, d.prefill.parallel); !why.empty()) return "prefill: " + why;
      if (std::string why = to_parallel(r.decode, pr.moe, d.decode.parallel); !why.empty()) return "decode: " + why;
      d.prefill_workers = static_cast<int>(r.prefill.workers.value_or(1));
      d.decode_workers = static_cast<int>(r.decode.workers.value_or(1));
      d.prefill_batch = r.prefill.batch.value_or(1);
      check_parallel(*q.model, d.prefill.parallel, Workload{d.prefill.parallel.dp, r.isl, r.osl});
      check_parallel(*q.model, d.decode.parallel, Workload{d.decode.parallel.dp, r.isl, r.osl});
      ServingEstimate e = serve_disaggregated(d, w, sp);
      out = {e.ttft_s, e.tpot_s};
    }
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

std::string group_of(const SiliconRow& r) { return fmt::format("{}|{}|{}|{}", r.model_path, r.system, r.backend, r.mode); }

}  // namespace

bool silicon_dense_row(const SiliconRow& r) {
  return r.model_path.find("Llama-3.1") != std::string::npos || r.model_path.find("Qwen3-32B") != std::string::npos;
}

ValidationReport validate_silicon(const std::vector<SiliconRow>& rows, const std::string& file, const ValidateOptions& o) {
  ValidationReport rep;
  rep.format = "silicon";
  rep.file = file;
  rep.group_key = "model|system|backend|mode";
  rep.rows = rows.size();
  Cache cache;
  for (const SiliconRow& r : rows) {
    Prepared pr;
    std::string why;
    try {
      why = prepare(r, cache, pr);
    } catch (const Error& e) {
      why = e.what();
    }
    const Calibration* cal = nullptr;
    if (why.empty() && o.calibration) {
      cal = o.calibration->find(o.backend.empty() ? r.backend : o.backend, pr.calib_precision);
      if (!cal) why = "no calibration for backend \"" + r.backend + "\"";
    }
    Predicted p;
    if (why.empty()) why = predict(r, pr, cal, p);
    if (!why.empty()) {
      rep.skipped.push_back({r.line, r.id, why});
      continue;
    }
    RowPrediction rp;
    rp.line = r.line;
    rp.id = r.id;
    rp.group = group_of(r);
    rp.subsets = {r.mode, r.mode + (pr.moe ? "|moe" : "|dense")};
    rp.metrics["ttft_s"] = {r.ttft_s, p.ttft_s};
    rp.metrics["tpot_s"] = {r.tpot_s, p.tpot_s};
    rep.predictions.push_back(std::move(rp));
  }
  rep.summarize();
  return rep;
}

namespace {

// Mean |log(pred / meas)| of TPOT plus TTFT over the prepared rows, for one candidate.
struct FitRow {
  const SiliconRow* row;
  Prepared pr;
};

double fit_loss(const std::vector<FitRow>& rows, const Calibration& c) {
  double loss = 0;
  std::size_t n = 0;
  for (const FitRow& f : rows) {
    Predicted p;
    if (!predict(*f.row, f.pr, &c, p).empty()) continue;
    loss += std::fabs(std::log(p.tpot_s / f.row->tpot_s)) + std::fabs(std::log(p.ttft_s / f.row->ttft_s));
    ++n;
  }
  return n ? loss / static_cast<double>(n) : 1e9;
}

}  // namespace

CalibrationSet fit_silicon_dense(const std::vector<SiliconRow>& rows) {
  Cache cache;
  std::map<std::pair<std::string, std::string>, std::vector<FitRow>> by_key;
  for (const SiliconRow& r : rows) {
    if (r.mode != "agg" || !silicon_dense_row(r)) continue;
    FitRow f{&r, {}};
    try {
      if (!prepare(r, cache, f.pr).empty()) continue;
    } catch (const Error&) {
      continue;
    }
    by_key[{r.backend, f.pr.calib_precision}].push_back(std::move(f));
  }
  CalibrationSet set;
  for (auto& entry : by_key) {  // not a structured binding: clang 14 cannot capture one
    const auto& key = entry.first;
    auto& fit_rows = entry.second;
    Calibration c;
    c.backend = key.first;
    c.precision = key.second;
    c.efficiency = Efficiency::defaults();
    c.efficiency.decode_kernel_overhead_s = c.efficiency.kernel_overhead_s;
    c.serving = ServingParams{};
    c.serving.ttft_factor = 2;
    c.fitted_rows = static_cast<int>(fit_rows.size());
    // Bounded coordinate search (perf/fit.hpp).
    std::vector<fit::Param> params = {
        // Upper bounds: 95% of the tensor-core peak, 100% of the bandwidth after the hardware's
        // own empirical factor; a kernel overhead of at most 10 us (launch + tail).
        {&c.efficiency.gemm, 0.05, 0.95, false},        {&c.efficiency.attention, 0.05, 0.95, false},
        // The GEMM ramp's half point: 0 to 512 rows.
        {&c.efficiency.gemm_m_half, 0, 512, true},
        {&c.efficiency.mem_bw, 0.3, 1.0 / 0.8, false},  {&c.efficiency.comm_bw, 0.1, 1.0, false},
        {&c.efficiency.kernel_overhead_s, 0, 10e-6, true}, {&c.efficiency.step_overhead_s, 0, 20e-3, true},
        // Graph-captured decode: a replayed node costs at most a microsecond.
        {&c.efficiency.decode_kernel_overhead_s, 0, 1e-6, true},
        // Host work per running sequence: at most 100 us.
        {&c.efficiency.seq_overhead_s, 0, 100e-6, true},
        // TTFT grows with the prefills queued ahead in a closed loop's bursts: linear in C.
        {&c.serving.ttft_factor, 0.5, 50, false},       {&c.serving.ttft_factor_per_request, 0, 2, true},
    };
    fit::coordinate_search(params, [&] { return fit_loss(fit_rows, c); });
    set.entries.push_back(c);
  }
  return set;
}

}  // namespace moeplan::perf
