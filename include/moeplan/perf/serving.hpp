// moeplan::perf — serving at a fixed client concurrency (closed loop: C clients, each sends
// its next request when the previous one finishes), as a serving benchmark measures it:
// mean TTFT and mean TPOT in steady state.
//
// Aggregated (one pool runs prefill and decode with continuous batching and chunked prefill
// interleaved with decode) and disaggregated (separate prefill and decode pools, KV cache
// shipped between them). Formulas in docs/perf-model.md, "Serving at a concurrency".
#pragma once

#include <cstdint>

#include "moeplan/perf/estimate.hpp"

namespace moeplan::perf {

// Engine behaviour the formulas need; calibrated per backend (perf/calibration.hpp).
struct ServingParams {
  double max_num_tokens = 8192;     // token budget of one step; longer prompts are chunked
  double kv_memory_fraction = 0.9;  // share of the free memory the engine gives the KV cache
  // Measured TTFT / modelled prefill service time: requests of a closed loop arrive in
  // bursts and wait for the prefills queued ahead of them, a number that grows with C.
  // factor = max(1, ttft_factor + ttft_factor_per_request x C + ttft_factor_log2c x log2(C)).
  double ttft_factor = 1;
  double ttft_factor_log2c = 0;
  double ttft_factor_per_request = 0;
};

struct ServingWorkload {
  std::int64_t concurrency = 1;  // client requests in flight (over all replicas' dp ranks)
  std::int64_t input_len = 1024;
  std::int64_t output_len = 256;
};

struct ServingEstimate {
  double ttft_s = 0;
  double tpot_s = 0;
  double e2e_s = 0;               // ttft + (output_len - 1) x tpot
  double running = 0;             // requests holding KV cache at once (<= concurrency)
  double kv_capacity = 0;         // requests whose final-context KV cache fits
  double decode_step_s = 0;       // a decode-only step of `running` sequences at the mean context
  double mixed_step_s = 0;        // the mean step: decode steps and steps carrying prompt chunks (TPOT)
  double prefill_service_s = 0;   // one request's own prefill (its chunks and the decode sharing them)
  double queue_s = 0;             // wait for a free KV slot when memory limits concurrency
  double kv_transfer_s = 0;       // disaggregated: prefill -> decode pool
  double throughput_tokens_per_s = 0;
  double throughput_tokens_per_s_per_gpu = 0;
  int gpus = 0;
  StepCost prefill;  // the request's own prefill step (aggregated: beside the decode batch)
  // The step TPOT is (aggregated: the mean of decode steps and steps carrying prompt chunks;
  // with speculation one iteration, drafts and verification, which yields several tokens per
  // sequence: TPOT = its time / tokens).
  StepCost decode;
  // Per GPU with `running` requests' KV cache at their final context (aggregated; the decode
  // worker when disaggregated).
  MemoryUse memory;
};

// The layout in `r` serves the whole concurrency (r.workload is ignored). Throws
// Error{infeasible} when not even one request's KV cache fits.
ServingEstimate serve_aggregated(const EstimateRequest& r, const ServingWorkload& w, const ServingParams& p);

// Requests whose KV cache (input + output tokens each) fits beside the weights, per layout.
double kv_capacity_requests(const EstimateRequest& r, std::int64_t context_tokens, double kv_memory_fraction);

struct DisaggLayout {
  EstimateRequest prefill;      // per prefill worker
  int prefill_workers = 1;
  std::int64_t prefill_batch = 1;  // prompts per prefill step
  EstimateRequest decode;       // per decode worker
  int decode_workers = 1;
};
ServingEstimate serve_disaggregated(const DisaggLayout& d, const ServingWorkload& w, const ServingParams& p);

}  // namespace moeplan::perf
