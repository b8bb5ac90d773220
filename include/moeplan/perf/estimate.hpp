// moeplan::perf — the analytic estimator: prefill, one decode step, an end-to-end request
// batch and the memory per GPU, for a model x hardware x parallelism x precision.
// Operator-level roofline summed over the layers (docs/perf-model.md has every formula).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "moeplan/perf/dtype.hpp"
#include "moeplan/perf/hardware.hpp"
#include "moeplan/perf/model_config.hpp"
#include "moeplan/perf/roofline.hpp"

namespace moeplan::perf {

// GPUs = tp * dp * pp. Attention is tensor-parallel over tp with the batch split over dp
// (attention data parallelism); the routed experts are spread over ep of the tp * dp GPUs of
// a stage and each expert is split over moe_tp = tp * dp / ep.
struct Parallel {
  int tp = 1;
  int pp = 1;
  int ep = 1;
  int dp = 1;
  // With pp > 1: the batch runs as this many micro-batches in flight through the stages
  // (1: the whole batch passes the stages one after another; see estimate()).
  int microbatches = 1;
  int gpus() const { return tp * pp * dp; }
};

struct Workload {
  std::int64_t batch = 1;         // sequences processed together
  std::int64_t input_len = 1024;  // prompt tokens per sequence
  std::int64_t output_len = 256;  // generated tokens per sequence
};

// Activation and KV-cache formats; weights come from ModelSpec::weights.
struct Precision {
  DType activations = DType::bf16;
  DType kv_cache = DType::bf16;
};

enum class Part : int {
  attn_proj,     // QKV / MLA projections and the output projection
  attn_core,     // QK^T, softmax, PV (or the latent attention of MLA)
  dense_ffn,
  moe_experts,   // grouped routed-expert GEMMs
  moe_shared,
  router,
  embed_lmhead,
  elementwise,   // norms and residual adds as memory traffic
  comm,          // TP/EP collectives
  comm_hidden,   // <= 0: the part of the layers' collectives overlapped with compute
  pipeline,      // PP hand-offs between stages
  overhead,      // per-step fixed cost
  count
};
constexpr int kParts = static_cast<int>(Part::count);
const char* part_name(Part p);

struct StepCost {
  double time_s = 0;
  double flops = 0;  // per GPU
  double bytes = 0;  // memory traffic per GPU
  std::array<double, kParts> part_s{};
  void add(Part p, const OpCost& c, double times = 1);
  void add_time(Part p, double s);
  // Adds `times` x `o`, part by part (several steps, a layer class, a weighted mean).
  void add_scaled(const StepCost& o, double times);
  StepCost scaled(double f) const;
};

struct MemoryUse {
  double weights_bytes_per_gpu = 0;
  double kv_cache_bytes_per_gpu = 0;
  double activations_bytes_per_gpu = 0;
  double reserved_bytes_per_gpu = 0;  // runtime + NCCL buffers
  double total_bytes_per_gpu = 0;
  double capacity_bytes_per_gpu = 0;
  bool fits() const { return total_bytes_per_gpu <= capacity_bytes_per_gpu; }
};

struct Estimate {
  StepCost prefill;  // the whole batch's prompts in one step
  // One decode step of the whole batch (with speculation: the draft passes plus the
  // verification step of one iteration, which yields tokens_per_step tokens per sequence).
  StepCost decode;
  double tokens_per_step = 1;
  double decode_context = 0;  // context length the decode step was priced at
  double ttft_s = 0;
  double tpot_s = 0;
  double e2e_s = 0;  // ttft + (output_len - 1) * tpot
  double throughput_tokens_per_s = 0;  // output tokens / e2e
  double throughput_tokens_per_s_per_gpu = 0;
  int gpus = 1;
  MemoryUse memory;
};

// Speculative decoding: a draft proposes `draft_tokens` tokens per sequence, the target model
// verifies them in one step (perf/speculative.hpp has the arithmetic). Off when draft_tokens = 0.
struct Speculation {
  int draft_tokens = 0;
  // Probability that a drafted token is accepted given that the ones before it were.
  double acceptance = 0.7;
  // The draft model (same layout as the target, on the same GPUs); nullptr: the target's own
  // multi-token-prediction modules (MTP, `num_nextn_predict_layers`), as DeepSeek-V3 serves.
  const ModelSpec* draft_model = nullptr;
  bool enabled() const { return draft_tokens > 0; }
};

struct EstimateRequest {
  const ModelSpec* model = nullptr;
  const Hardware* hardware = nullptr;
  Parallel parallel;
  Workload workload;
  Precision precision;
  Efficiency efficiency;
  Speculation speculation;
  // Measured all-to-all sends of the expert-parallel group (from a routing trace; the CLI's
  // --routing); unset: experts uniform over the GPUs.
  std::optional<EpTraffic> ep_traffic;
};

// Throws Error{usage} for impossible parallelism (e.g. tp not dividing the heads) and
// Error{infeasible} when the configuration does not fit in memory (every component listed).
Estimate estimate(const EstimateRequest& r);

// As estimate(), but without exceptions for the expected failures: returns false with `why`
// set when the layout is impossible or the configuration does not fit (the sweep's path).
bool try_estimate(const EstimateRequest& r, Estimate& out, std::string& why);

// Sets every weight class to `w` and returns the matching formats: 8-bit (and fp16) weights
// run W8A8 / W16A16, 4-bit weights keep bf16 activations; the KV cache follows the activations.
Precision apply_weight_dtype(ModelSpec& m, DType w);

// The pieces, for tests and the sweep: no memory check.
void check_parallel(const ModelSpec& m, const Parallel& p, const Workload& w);
// The reason check_parallel() would throw, or "" when the layout is valid.
std::string parallel_problem(const ModelSpec& m, const Parallel& p, const Workload& w);
StepCost step_cost(const EstimateRequest& r, std::int64_t batch, std::int64_t new_tokens, std::int64_t past);

// One group of sequences in a forward step: `seqs` sequences (over all dp ranks; may be
// fractional as a steady-state average) each adding `new_tokens` after `past` cached ones.
struct StepSegment {
  double seqs = 1;
  double new_tokens = 1;
  double past = 0;
  // Speculative verification: the new tokens are decode tokens (graph-captured overheads, the
  // LM head on every one of them), not a prompt chunk.
  bool verify = false;
};
// A mixed step (e.g. decode sequences plus prefill chunks, as continuous batching runs them):
// projections, FFN, experts and collectives see all tokens at once; attention is priced per
// segment. With one segment it equals step_cost(r, batch, new_tokens, past).
StepCost step_cost(const EstimateRequest& r, std::span<const StepSegment> segments);
// Per GPU for r.workload, the speculative draft's weights and KV cache included.
MemoryUse memory_use(const EstimateRequest& r);
// How much the memory left beside the weights holds, at r.workload's lengths: the largest
// static batch (a multiple of dp) whose weights, KV cache, activations and reserve fit (0 when
// not even one sequence per attention-DP rank does), and the KV-cache tokens (over all dp
// ranks) that fit beside the weights, the reserve and one sequence's activations per rank
// (infinity for a model without a KV cache).
struct MemoryRoom {
  std::int64_t max_batch = 0;
  double max_kv_tokens = 0;
};
MemoryRoom memory_room(const EstimateRequest& r);
// Throws Error{infeasible} listing the components when `m` does not fit.
void require_fits(const MemoryUse& m, const EstimateRequest& r);
// The message require_fits() throws ("... does not fit: weights ... > ... per GPU").
std::string fit_problem(const MemoryUse& m, const EstimateRequest& r);

}  // namespace moeplan::perf
