// estimate(): checks the layout, prices prefill and one decode step, derives TTFT / TPOT /
// throughput, and checks the memory per GPU.
#include "moeplan/perf/estimate.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/speculative.hpp"

namespace moeplan::perf {

std::string parallel_problem(const ModelSpec& m, const Parallel& p, const Workload& w) {
  if (p.tp < 1 || p.pp < 1 || p.ep < 1 || p.dp < 1) return "tp, pp, ep and dp must be >= 1";
  if (m.heads % p.tp != 0) return fmt::format("tp {} does not divide the {} attention heads of {}", p.tp, m.heads, m.name);
  if (p.pp > m.num_layers()) return fmt::format("pp {} exceeds the {} layers of {}", p.pp, m.num_layers(), m.name);
  if ((p.tp * p.dp) % p.ep != 0)
    return fmt::format("ep {} must divide the tp x dp = {} GPUs of a pipeline stage", p.ep, p.tp * p.dp);
  if (p.ep > 1 && !m.is_moe()) return fmt::format("ep {} given, but {} has no experts", p.ep, m.name);
  if (m.is_moe() && m.experts % p.ep != 0)
    return fmt::format("ep {} does not divide the {} experts of {}", p.ep, m.experts, m.name);
  if (w.batch < 1 || w.input_len < 1 || w.output_len < 1) return "batch, input length and output length must be >= 1";
  if (w.batch % p.dp != 0) return fmt::format("dp {} does not divide the batch {}", p.dp, w.batch);
  if (p.microbatches < 1) return "microbatches must be >= 1";
  if (p.microbatches > 1 && p.pp == 1) return fmt::format("{} micro-batches need pipeline stages (pp > 1)", p.microbatches);
  if (w.batch % (static_cast<std::int64_t>(p.dp) * p.microbatches) != 0)
    return fmt::format("dp {} x {} micro-batches does not divide the batch {}", p.dp, p.microbatches, w.batch);
  return {};
}

void check_parallel(const ModelSpec& m, const Parallel& p, const Workload& w) {
  if (std::string why = parallel_problem(m, p, w); !why.empty()) throw_usage(why);
}

std::string fit_problem(const MemoryUse& mem, const EstimateRequest& r) {
  constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
  const Parallel& p = r.parallel;
  return fmt::format("{} on {} (tp {} pp {} ep {} dp {}, batch {}, {}+{} tokens) does not fit: weights "
                     "{:.2f} GiB + KV cache {:.2f} GiB + activations {:.2f} GiB + reserved {:.2f} GiB = "
                     "{:.2f} GiB > {:.2f} GiB per GPU",
                     r.model->name, r.hardware->name, p.tp, p.pp, p.ep, p.dp, r.workload.batch, r.workload.input_len,
                     r.workload.output_len, mem.weights_bytes_per_gpu / GiB, mem.kv_cache_bytes_per_gpu / GiB,
                     mem.activations_bytes_per_gpu / GiB, mem.reserved_bytes_per_gpu / GiB,
                     mem.total_bytes_per_gpu / GiB, mem.capacity_bytes_per_gpu / GiB);
}

void require_fits(const MemoryUse& mem, const EstimateRequest& r) {
  if (mem.fits()) return;
  throw Error(ErrorKind::infeasible, {}, fit_problem(mem, r));
}

Precision apply_weight_dtype(ModelSpec& m, DType w) {
  m.weights = WeightDTypes{w, w, w, w, w};
  Precision prec;
  if (w == DType::fp8 || w == DType::int8 || w == DType::fp16) prec.activations = w;
  prec.kv_cache = prec.activations;
  return prec;
}

bool try_estimate(const EstimateRequest& r, Estimate& e, std::string& why) {
  const Workload& w = r.workload;
  why = parallel_problem(*r.model, r.parallel, w);
  if (why.empty() && r.speculation.enabled()) {
    why = speculation_problem(r);
    if (!why.empty()) why = "speculative decoding: " + why;
  }
  if (!why.empty()) return false;
  e = Estimate{};
  e.gpus = r.parallel.gpus();
  e.memory = memory_use(r);
  if (!e.memory.fits()) {
    why = fit_problem(e.memory, r);
    return false;
  }
  // Pipeline of m micro-batches (batch / m sequences each) over pp stages: a stage slot is
  // 1/pp of a micro-batch's step. Prefill fills and drains the pipe (m + pp - 1 slots); in
  // decode each micro-batch gets its next token every max(m, pp) slots. m = 1 gives the plain
  // step: pp slots.
  const double pp = r.parallel.pp, m = r.parallel.microbatches;
  const std::int64_t mb = w.batch / r.parallel.microbatches;
  e.prefill = step_cost(r, mb, w.input_len, 0).scaled((m + pp - 1) / pp);
  // Decode: GenZ prices the step producing the last token (context input + output); by
  // default the step at the mean context, so that TPOT x steps is the decode time.
  std::int64_t ctx = r.efficiency.decode_at_final_context ? w.input_len + w.output_len
                                                          : w.input_len + w.output_len / 2;
  e.decode_context = static_cast<double>(ctx);
  const double slots = std::max(m, pp) / pp;
  if (r.speculation.enabled()) {
    const SpecIteration it = speculative_iteration(r, static_cast<double>(mb), static_cast<double>(ctx - 1));
    e.decode = it.combined().scaled(slots);
    e.tokens_per_step = it.tokens_per_seq;
  } else {
    e.decode = step_cost(r, mb, 1, ctx - 1).scaled(slots);
  }
  e.ttft_s = e.prefill.time_s;
  e.tpot_s = e.decode.time_s / e.tokens_per_step;
  e.e2e_s = e.ttft_s + static_cast<double>(w.output_len - 1) * e.tpot_s;
  // Replicas: dp ranks already share one batch, so the layout serves `batch` sequences.
  e.throughput_tokens_per_s = static_cast<double>(w.batch * w.output_len) / e.e2e_s;
  e.throughput_tokens_per_s_per_gpu = e.throughput_tokens_per_s / e.gpus;
  return true;
}

Estimate estimate(const EstimateRequest& r) {
  check_parallel(*r.model, r.parallel, r.workload);
  if (std::string why = speculation_problem(r); !why.empty()) throw_usage("speculative decoding: " + why);
  Estimate e;
  std::string why;
  if (!try_estimate(r, e, why)) {
    // Not in try_estimate: the sweep's infeasible points need no search for the largest batch.
    if (!e.memory.fits())
      if (const MemoryRoom room = memory_room(r); room.max_batch > 0)
        why += fmt::format(" (largest batch that fits: {})", room.max_batch);
    throw Error(ErrorKind::infeasible, {}, why);
  }
  return e;
}

}  // namespace moeplan::perf
