// Steady-state serving at a concurrency, built from step_cost(): see serving.hpp.
#include "moeplan/perf/serving.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <span>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/speculative.hpp"

namespace moeplan::perf {

namespace {

double ttft_factor(const ServingParams& p, double concurrency) {
  const double c = std::max(1.0, concurrency);
  return std::max(1.0, p.ttft_factor + p.ttft_factor_per_request * c + p.ttft_factor_log2c * std::log2(c));
}

}  // namespace

namespace {

// Memory of one request per attention-DP rank at `context_tokens`: the per-request KV bytes on
// one GPU, beside the weights, the reserve and one prompt's activations.
MemoryUse one_request_memory(const EstimateRequest& r, std::int64_t context_tokens) {
  EstimateRequest one = r;
  one.workload.batch = r.parallel.dp;
  one.workload.input_len = std::max<std::int64_t>(1, context_tokens - 1);
  one.workload.output_len = 1;
  return memory_use(one);
}

// The decode work of `seqs` sequences at `past` plus `others` in one step: a plain step, or
// with speculation one iteration (drafts + verification), which yields `tokens` per sequence.
StepCost decode_work(const EstimateRequest& r, double seqs, double past, std::span<const StepSegment> others,
                     double& tokens) {
  if (!r.speculation.enabled()) {
    tokens = 1;
    return step_cost(r, with_segment(StepSegment{seqs, 1, past}, others).view());
  }
  const SpecIteration it = speculative_iteration(r, seqs, past, others);
  tokens = it.tokens_per_seq;
  return it.combined();
}

// The mean step of a steady state that starts `chunks_per_step` prompt chunks of `chunk_len`
// tokens (of prompts of `prompt_len`) per step on average beside the decode work of `seqs`
// sequences at `past` (whose own cost is `dec_cost`): a fraction f = min(1, chunks_per_step /
// dp) of the steps carries max(dp, chunks_per_step) chunks (one per attention-DP rank) at the
// mean position of a chunk in its prompt; the others are pure decode steps. Weight reads,
// touched experts and per-kernel overheads are paid per step, so spreading the chunks thinly
// over every step would overcharge them.
StepCost mixed_step_cost(const EstimateRequest& r, double seqs, double past, const StepCost& dec_cost,
                         double chunks_per_step, double chunk_len, double prompt_len, double dp) {
  if (chunks_per_step <= 0 || chunk_len <= 0) return dec_cost;
  const double f = std::min(1.0, chunks_per_step / dp);
  const StepSegment chunk{std::max(dp, chunks_per_step), chunk_len, std::max(0.0, (prompt_len - chunk_len) / 2)};
  double tau = 1;
  const StepCost with = decode_work(r, seqs, past, std::span<const StepSegment>(&chunk, 1), tau);
  StepCost out = dec_cost.scaled(1 - f);
  out.add_scaled(with, f);
  return out;
}

double capacity_from(const MemoryUse& m, double dp, double kv_memory_fraction) {
  double free = m.capacity_bytes_per_gpu - m.weights_bytes_per_gpu - m.reserved_bytes_per_gpu - m.activations_bytes_per_gpu;
  if (m.kv_cache_bytes_per_gpu <= 0) return 1e18;  // no KV cache (linear attention only)
  return std::max(0.0, std::floor(free * kv_memory_fraction / m.kv_cache_bytes_per_gpu)) * dp;
}

// `m` (one request per rank) with the KV cache of `running` requests over the dp ranks.
MemoryUse with_running(MemoryUse m, double running, double dp) {
  m.kv_cache_bytes_per_gpu *= std::ceil(running / dp);
  m.total_bytes_per_gpu = m.weights_bytes_per_gpu + m.kv_cache_bytes_per_gpu + m.activations_bytes_per_gpu + m.reserved_bytes_per_gpu;
  return m;
}

}  // namespace

double kv_capacity_requests(const EstimateRequest& r, std::int64_t context_tokens, double kv_memory_fraction) {
  return capacity_from(one_request_memory(r, context_tokens), r.parallel.dp, kv_memory_fraction);
}

ServingEstimate serve_aggregated(const EstimateRequest& r, const ServingWorkload& w, const ServingParams& p) {
  Workload wl{std::max<std::int64_t>(w.concurrency, r.parallel.dp), w.input_len, w.output_len};
  wl.batch -= wl.batch % r.parallel.dp;  // check_parallel wants dp | batch
  check_parallel(*r.model, r.parallel, wl);
  if (r.parallel.microbatches > 1)
    throw_usage("pipeline micro-batches are modelled for static batches only (estimate --batch)");
  if (std::string why = speculation_problem(r); !why.empty()) throw_usage("speculative decoding: " + why);
  ServingEstimate e;
  e.gpus = r.parallel.gpus();
  const double C = static_cast<double>(w.concurrency);
  const double isl = static_cast<double>(w.input_len), osl = static_cast<double>(w.output_len);
  const MemoryUse one = one_request_memory(r, w.input_len + w.output_len);
  e.kv_capacity = capacity_from(one, r.parallel.dp, p.kv_memory_fraction);
  if (e.kv_capacity < 1)
    throw Error(ErrorKind::infeasible, {},
                fmt::format("{} on {}: not even one request of {}+{} tokens fits in the KV cache", r.model->name,
                            r.hardware->name, w.input_len, w.output_len));
  e.running = std::min(C, e.kv_capacity);
  e.memory = with_running(one, e.running, r.parallel.dp);
  const double b = e.running;
  // Decode sequences sit on average at the middle of their output.
  const double past = isl + std::floor(osl / 2) - 1;
  double tau = 1;  // tokens per sequence and step (speculation: per iteration)
  const StepCost dec_cost = decode_work(r, b, past, {}, tau);
  e.decode_step_s = dec_cost.time_s;
  // One request's prefill runs in `chunks` chunks of at most the token budget left beside the
  // decode batch (one prompt per attention-DP rank, the way the scheduler spreads them).
  const double dp = r.parallel.dp;
  const double budget = std::max(1.0, p.max_num_tokens - b / dp);
  const double chunks = std::ceil(isl / budget);
  // Steady state: every step starts b x tau / osl new requests on average, i.e.
  // b x tau x chunks / osl prompt chunks of isl / chunks tokens per step. They do not spread
  // over every step: a fraction f of the steps carries chunks (one per attention-DP rank, or
  // more when f would exceed 1), the rest are pure decode steps; TPOT is the mean step
  // (mixed_step_cost) over the tokens per sequence and step.
  e.decode = w.output_len > 1 ? mixed_step_cost(r, b, past, dec_cost, b * tau * chunks / osl, isl / chunks, isl, dp) : dec_cost;
  e.mixed_step_s = e.decode.time_s;
  const StepSegment own{dp, isl, 0};
  double own_tau = 1;
  e.prefill = decode_work(r, std::max(0.0, b - dp), past, std::span<const StepSegment>(&own, 1), own_tau);
  e.prefill_service_s = e.prefill.time_s + (chunks - 1) * e.decode_step_s;
  e.tpot_s = e.mixed_step_s / tau;
  const double own_ttft = e.prefill_service_s * ttft_factor(p, C);
  // Closed loop with only `running` slots: the other clients wait a whole request time per
  // round in proportion (Little's law: C / (wait + L) = b / L).
  const double lifetime = own_ttft + (osl - 1) * e.tpot_s;
  e.queue_s = C > b ? lifetime * (C / b - 1) : 0.0;
  e.ttft_s = own_ttft + e.queue_s;
  e.e2e_s = e.ttft_s + (osl - 1) * e.tpot_s;
  e.throughput_tokens_per_s = C * osl / e.e2e_s;
  e.throughput_tokens_per_s_per_gpu = e.throughput_tokens_per_s / e.gpus;
  return e;
}

namespace {

// Both pools' layouts must be valid, and the prefill worker must hold its batch of prompts.
void check_disaggregated(const DisaggLayout& d, const ServingWorkload& w) {
  if (d.prefill_workers < 1 || d.decode_workers < 1) throw_usage("prefill and decode workers must be >= 1");
  for (const EstimateRequest* r : {&d.prefill, &d.decode}) {
    const char* pool = r == &d.prefill ? "prefill worker" : "decode worker";
    const std::int64_t dp = r->parallel.dp;
    const std::int64_t batch = r == &d.prefill ? std::max<std::int64_t>(d.prefill_batch, 1) : w.concurrency;
    const Workload wl{std::max<std::int64_t>(1, (batch + dp - 1) / dp) * dp, w.input_len, w.output_len};
    if (std::string why = parallel_problem(*r->model, r->parallel, wl); !why.empty()) throw_usage(fmt::format("{}: {}", pool, why));
    if (r->parallel.microbatches > 1)
      throw_usage(fmt::format("{}: pipeline micro-batches are modelled for static batches only", pool));
  }
  if (std::string why = speculation_problem(d.decode); !why.empty()) throw_usage("speculative decoding: " + why);
  EstimateRequest pre = d.prefill;
  pre.workload = Workload{std::max<std::int64_t>(d.prefill_batch, d.prefill.parallel.dp), w.input_len, 1};
  if (const MemoryUse m = memory_use(pre); !m.fits())
    throw Error(ErrorKind::infeasible, {}, "prefill worker: " + fit_problem(m, pre));
}

}  // namespace

ServingEstimate serve_disaggregated(const DisaggLayout& d, const ServingWorkload& w, const ServingParams& p) {
  check_disaggregated(d, w);
  ServingEstimate e;
  e.gpus = d.prefill.parallel.gpus() * d.prefill_workers + d.decode.parallel.gpus() * d.decode_workers;
  const double C = static_cast<double>(w.concurrency);
  const double isl = static_cast<double>(w.input_len), osl = static_cast<double>(w.output_len);
  // Decode pool: the clients spread over the decode workers, each a decode-only batch.
  const double per_worker = std::max(1.0, C / d.decode_workers);
  const MemoryUse one_dec = one_request_memory(d.decode, w.input_len + w.output_len);
  e.kv_capacity = capacity_from(one_dec, d.decode.parallel.dp, p.kv_memory_fraction) * d.decode_workers;
  if (e.kv_capacity < 1)
    throw Error(ErrorKind::infeasible, {},
                fmt::format("{} on {}: not even one request of {}+{} tokens fits in the decode worker's KV cache",
                            d.decode.model->name, d.decode.hardware->name, w.input_len, w.output_len));
  e.running = std::min(C, e.kv_capacity);
  const double b = std::min(per_worker, e.running / d.decode_workers);
  e.memory = with_running(one_dec, b, d.decode.parallel.dp);
  double tau = 1;
  e.decode = decode_work(d.decode, std::max(b, static_cast<double>(d.decode.parallel.dp)), isl + std::floor(osl / 2) - 1, {}, tau);
  e.decode_step_s = e.decode.time_s;
  e.mixed_step_s = e.decode_step_s;
  e.tpot_s = e.decode_step_s / tau;
  // Prefill pool: batches of prefill_batch prompts (at least one per attention-DP rank).
  const double pb = std::max<double>(static_cast<double>(d.prefill_batch), d.prefill.parallel.dp);
  const StepSegment pre{pb, isl, 0};
  e.prefill = step_cost(d.prefill, std::span<const StepSegment>(&pre, 1));
  e.prefill_service_s = e.prefill.time_s;
  // KV cache of one prompt over the inter-node links (the pools are separate GPUs).
  EstimateRequest one = d.prefill;
  one.workload = Workload{d.prefill.parallel.dp, w.input_len, 1};
  const double kv_bytes = memory_use(one).kv_cache_bytes_per_gpu;
  e.kv_transfer_s = kv_bytes / std::max(1.0, d.prefill.hardware->inter_node_bw_bytes_per_s) + d.prefill.hardware->p2p_latency_s;
  // Prefill utilisation: C / lifetime requests per second need prefill_workers to keep up;
  // when they cannot, requests queue (an M/D/1 wait at utilisation rho).
  const double own = e.prefill_service_s * ttft_factor(p, C) + e.kv_transfer_s;
  double lifetime = own + (osl - 1) * e.tpot_s;
  const double rho = std::min(0.95, C / lifetime * e.prefill_service_s / pb / d.prefill_workers);
  const double wait = rho / (2 * (1 - rho)) * e.prefill_service_s;
  e.queue_s = wait + (C > e.running ? (lifetime + wait) * (C / e.running - 1) : 0.0);
  e.ttft_s = own + e.queue_s;
  e.e2e_s = e.ttft_s + (osl - 1) * e.tpot_s;
  e.throughput_tokens_per_s = C * osl / e.e2e_s;
  e.throughput_tokens_per_s_per_gpu = e.throughput_tokens_per_s / e.gpus;
  return e;
}

}  // namespace moeplan::perf
