// Memory per GPU: weights (the busiest pipeline stage), KV cache at the final context,
// peak activations of the prefill step, and the runtime reserve.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/speculative.hpp"
#include "perf/shard.hpp"

namespace moeplan::perf {

namespace {

// Bytes of one layer's weights on one GPU.
double layer_weight_bytes(const ModelSpec& m, const Shard& s, const LayerSpec& l) {
  const double H = static_cast<double>(m.hidden);
  double attn = attention_params(m, l.attn);
  double replicated = 0;
  if (l.attn != AttnKind::linear) {
    if (m.mla) {
      // Down-projections (q_a, kv_a) are replicated on every TP rank.
      replicated = H * (m.mla_dims.q_lora_rank + m.mla_dims.kv_lora_rank + m.mla_dims.qk_rope_head_dim);
    } else if (m.kv_heads < s.tp) {
      // K/V heads are replicated when fewer than the TP ranks: each rank keeps one.
      double kv_full = 2.0 * H * m.kv_heads * m.head_dim;
      attn -= kv_full;
      replicated = 2.0 * H * m.head_dim;
    }
  }
  double bytes = ((attn - replicated) / s.tp + replicated) * dtype_bytes(m.weights.attention);
  const double mats = m.gated_ffn ? 3 : 2;
  if (l.moe) {
    bytes += static_cast<double>(m.experts) / s.ep * mats * H * static_cast<double>(m.moe_ffn) / s.moe_tp *
             expert_weight_bytes(m.weights);
    bytes += mats * H * static_cast<double>(m.shared_ffn) / s.tp * dtype_bytes(m.weights.shared_experts);
    bytes += static_cast<double>(m.experts) * H * 2.0;  // router, bf16
  } else {
    bytes += mats * H * static_cast<double>(m.ffn_dense) / s.tp * dtype_bytes(m.weights.dense_ffn);
  }
  return bytes;
}

// KV-cache bytes per token of one layer on one GPU (state bytes per sequence for linear layers
// are added separately).
double layer_kv_bytes_per_token(const ModelSpec& m, const Shard& s, AttnKind kind, double kvb) {
  if (kind == AttnKind::linear) return 0;
  if (m.mla) return static_cast<double>(m.mla_dims.kv_lora_rank + m.mla_dims.qk_rope_head_dim) * kvb;
  return 2.0 * s.kv_heads * static_cast<double>(m.head_dim) * kvb;
}

}  // namespace

MemoryUse memory_use(const EstimateRequest& r) {
  const ModelSpec& m = *r.model;
  const Hardware& hw = *r.hardware;
  const Workload& w = r.workload;
  const Shard s = make_shard(m, r.parallel);
  const double kvb = dtype_bytes(r.precision.kv_cache);
  const double ab = dtype_bytes(r.precision.activations);
  const double H = static_cast<double>(m.hidden);
  const double seqs = static_cast<double>(w.batch) / s.dp;
  const double ctx = static_cast<double>(w.input_len + w.output_len);

  // Layers of the same (attention kind, FFN kind) class weigh the same: price each class once.
  std::array<std::array<int, 2>, 3> count{};
  for (const LayerSpec& l : m.layers) ++count[static_cast<int>(l.attn)][l.moe ? 1 : 0];
  double weights = 0, kv = 0;
  for (int kind = 0; kind < 3; ++kind) {
    for (int moe = 0; moe < 2; ++moe) {
      const int n = count[kind][moe];
      if (n == 0) continue;
      const LayerSpec l{static_cast<AttnKind>(kind), moe == 1};
      weights += n * layer_weight_bytes(m, s, l);
      double tokens = l.attn == AttnKind::sliding ? std::min(ctx, static_cast<double>(m.sliding_window)) : ctx;
      kv += n * seqs * tokens * layer_kv_bytes_per_token(m, s, l.attn, kvb);
      if (l.attn == AttnKind::linear) {
        const auto& d = m.linear_dims;
        kv += n * seqs * static_cast<double>(d.value_heads) / s.tp * d.key_head_dim * d.value_head_dim * 4.0;
      }
    }
  }
  // Layers split evenly over the stages (the busiest has ceil(L / pp)).
  const double per_stage = std::ceil(static_cast<double>(m.num_layers()) / s.pp) / static_cast<double>(m.num_layers());
  weights *= per_stage;
  kv *= per_stage;
  // Vocabulary-parallel embedding and LM head; with PP they sit on the first / last stage.
  const double vocab_mat = static_cast<double>(m.vocab) * H / s.tp * dtype_bytes(m.weights.embedding);
  weights += (m.tied_embeddings || s.pp > 1) ? vocab_mat : 2 * vocab_mat;

  MemoryUse mem;
  mem.weights_bytes_per_gpu = weights;
  mem.kv_cache_bytes_per_gpu = kv;
  if (r.efficiency.runtime_reserve) {
    // Prefill peak: the hidden state, the widest intermediate (QKV or FFN up) and the logits
    // of the last tokens in fp32.
    const double T = seqs * static_cast<double>(w.input_len);
    const double wide = std::max({static_cast<double>(m.ffn_dense) * 2 / s.tp,
                                  static_cast<double>(m.moe_ffn) * 2 * m.top_k / s.ep,
                                  static_cast<double>(m.heads + 2 * m.kv_heads) * m.head_dim / s.tp});
    mem.activations_bytes_per_gpu = T * (2 * H + wide) * ab + seqs * static_cast<double>(m.vocab) / s.tp * 4.0;
    mem.reserved_bytes_per_gpu = hw.other_mem_bytes + hw.nccl_mem_for(s.tp * s.dp);
  }
  // Speculative decoding: the draft's weights and KV cache sit beside the target's.
  if (r.speculation.enabled()) {
    const MemoryUse d = draft_memory(r);
    mem.weights_bytes_per_gpu += d.weights_bytes_per_gpu;
    mem.kv_cache_bytes_per_gpu += d.kv_cache_bytes_per_gpu;
  }
  mem.total_bytes_per_gpu = mem.weights_bytes_per_gpu + mem.kv_cache_bytes_per_gpu +
                            mem.activations_bytes_per_gpu + mem.reserved_bytes_per_gpu;
  mem.capacity_bytes_per_gpu = hw.mem_capacity_bytes;
  return mem;
}

MemoryRoom memory_room(const EstimateRequest& r) {
  MemoryRoom room;
  const std::int64_t dp = std::max(1, r.parallel.dp);
  EstimateRequest q = r;
  auto fits = [&](std::int64_t batch) {
    q.workload.batch = batch;
    return memory_use(q).fits();
  };
  q.workload.batch = dp;
  const MemoryUse one = memory_use(q);  // one sequence per rank
  const double ctx = static_cast<double>(r.workload.input_len + r.workload.output_len);
  const double free = one.capacity_bytes_per_gpu - one.weights_bytes_per_gpu - one.reserved_bytes_per_gpu -
                      one.activations_bytes_per_gpu;
  room.max_kv_tokens = one.kv_cache_bytes_per_gpu <= 0 ? std::numeric_limits<double>::infinity()
                                                       : std::max(0.0, std::floor(free / (one.kv_cache_bytes_per_gpu / ctx))) * dp;
  if (!one.fits()) return room;
  // Memory grows with the batch: double until it does not fit, then bisect (in units of dp).
  std::int64_t lo = 1, hi = 2;  // lo fits, hi unknown
  constexpr std::int64_t kMaxUnits = std::int64_t{1} << 40;
  while (hi < kMaxUnits && fits(hi * dp)) {
    lo = hi;
    hi *= 2;
  }
  if (hi >= kMaxUnits) {
    room.max_batch = lo * dp;
    return room;
  }
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid * dp) ? lo : hi) = mid;
  }
  room.max_batch = lo * dp;
  return room;
}

}  // namespace moeplan::perf
