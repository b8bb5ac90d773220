// One forward step (prefill chunk or decode step) priced operator by operator. Layers of the
// same kind cost the same, so each (attention kind x FFN kind) class is priced once and
// multiplied by its layer count: the step costs O(1) in the number of layers after a count.
#include <algorithm>
#include <cmath>

#include "moeplan/perf/estimate.hpp"
#include "perf/shard.hpp"

namespace moeplan::perf {

const char* part_name(Part p) {
  static const char* names[] = {"attn_proj", "attn_core", "dense_ffn", "moe_experts", "moe_shared", "router",
                                "embed_lmhead", "elementwise", "comm", "comm_hidden", "pipeline", "overhead"};
  return names[static_cast<int>(p)];
}

void StepCost::add(Part p, const OpCost& c, double times) {
  part_s[static_cast<int>(p)] += c.time_s * times;
  time_s += c.time_s * times;
  flops += c.flops * times;
  bytes += c.bytes * times;
}

void StepCost::add_time(Part p, double s) {
  part_s[static_cast<int>(p)] += s;
  time_s += s;
}

void StepCost::add_scaled(const StepCost& o, double times) {
  time_s += o.time_s * times;
  flops += o.flops * times;
  bytes += o.bytes * times;
  for (int p = 0; p < kParts; ++p) part_s[p] += o.part_s[p] * times;
}

StepCost StepCost::scaled(double f) const {
  StepCost c;
  c.add_scaled(*this, f);
  return c;
}

namespace {

struct Ctx {
  const ModelSpec& m;
  const Hardware& hw;
  const Efficiency& eff;
  Shard s;
  double ab;    // activation bytes
  double kvb;   // KV-cache bytes
  Device attn_dev, dense_dev, shared_dev, expert_dev, embed_dev, core_dev;
  double tp_bw, stage_bw;  // link bandwidth inside the TP group / the whole stage
  double hop_s;            // per ring step of a collective: hardware + software latency
  const EpTraffic* traffic = nullptr;  // measured EP sends per token, or uniform when null
};

double group_bw(const Hardware& hw, int n, double eff) {
  return (n <= hw.gpus_per_node ? hw.intra_node_bw_bytes_per_s : hw.inter_node_bw_bytes_per_s) * eff;
}

double all_reduce(const Ctx& c, double bytes, int n, double bw) {
  if (c.eff.comm_large_bytes > 0 && bytes >= c.eff.comm_large_bytes) bw *= c.eff.comm_bw_large / c.eff.comm_bw;
  using A = Efficiency::AllReduce;
  const double ring = c.eff.all_reduce == A::tree ? 0 : all_reduce_s(bytes, n, bw, c.hw.collective_start_latency_s, c.hop_s);
  if (c.eff.all_reduce == A::ring) return ring;
  const double tree = tree_all_reduce_s(bytes, n, bw, c.hw.collective_start_latency_s, c.hop_s);
  return c.eff.all_reduce == A::tree ? tree : std::min(ring, tree);
}

// Attention of one layer for `b` sequences of `q` new tokens after `past` cached ones.
// `decode` marks decode tokens (q = 1, or the q drafted tokens of a speculative verification):
// MLA keeps its weights absorbed and attends over the cached latents.
void price_attention(const Ctx& c, AttnKind kind, double b, double q, double past, bool decode, StepCost& out) {
  const ModelSpec& m = c.m;
  const Shard& s = c.s;
  const double T = b * q;
  const double H = static_cast<double>(m.hidden);
  const double wb = dtype_bytes(m.weights.attention);
  if (kind == AttnKind::linear) {
    const auto& d = m.linear_dims;
    double key = static_cast<double>(d.key_heads * d.key_head_dim) / s.tp;
    double val = static_cast<double>(d.value_heads * d.value_head_dim) / s.tp;
    out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, H, 2 * key + 2 * val + 2.0 * d.value_heads / s.tp, wb, c.ab, c.eff.gemm));
    out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, val, H, wb, c.ab, c.eff.gemm));
    // Recurrent state update: ~4 dk*dv FLOPs per head and token; the fp32 state is read and
    // written once per sequence and step.
    double heads = static_cast<double>(d.value_heads) / s.tp;
    double state = heads * d.key_head_dim * d.value_head_dim * 4.0;
    out.add(Part::attn_core, op_cost(c.core_dev, 4 * T * heads * d.key_head_dim * d.value_head_dim,
                                     2 * b * state + T * (2 * key + 2 * val) * c.ab, c.eff.attention));
    return;
  }
  const bool causal = c.eff.causal_prefill || decode;
  const double window = kind == AttnKind::sliding ? static_cast<double>(m.sliding_window) : 0.0;
  const double keys_per_query_sum = attended_keys(past, q, window, causal);  // per sequence
  const double cached = window > 0 ? std::min(past + q, window) : past + q;  // keys read per sequence
  const double h = s.heads;
  if (m.mla) {
    const auto& d = m.mla_dims;
    const double nope = static_cast<double>(d.qk_nope_head_dim), rope = static_cast<double>(d.qk_rope_head_dim);
    const double v = static_cast<double>(d.v_head_dim), lora = static_cast<double>(d.kv_lora_rank);
    // Down-projections are replicated across TP ranks; up-projections split by heads.
    if (d.q_lora_rank > 0) {
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, H, static_cast<double>(d.q_lora_rank), wb, c.ab, c.eff.gemm));
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, static_cast<double>(d.q_lora_rank), h * (nope + rope), wb, c.ab, c.eff.gemm));
    } else {
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, H, h * (nope + rope), wb, c.ab, c.eff.gemm));
    }
    out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, H, lora + rope, wb, c.ab, c.eff.gemm));
    const double latent = (lora + rope) * c.kvb;  // cache bytes per token (not split by TP)
    if (decode) {
      // Decode, weights absorbed: queries move into the latent space (W_UK), attention runs
      // over the cached latents for every head, outputs leave through W_UV.
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, h * nope, lora, wb, c.ab, c.eff.gemm));
      double macs = b * h * keys_per_query_sum * (lora + rope + lora);
      out.add(Part::attn_core, op_cost(c.core_dev, 2 * macs, b * cached * latent + T * h * (2 * lora + rope) * c.ab, c.eff.attention));
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, h * lora, v, wb, c.ab, c.eff.gemm));
    } else {
      // Prefill: latents expanded to per-head keys and values (kv_b), then ordinary attention.
      out.add(Part::attn_proj, gemm_cost(c.attn_dev, b * (past + q), lora, h * (nope + v), wb, c.ab, c.eff.gemm));
      double macs = b * h * keys_per_query_sum * (nope + rope + v);
      out.add(Part::attn_core, op_cost(c.core_dev, 2 * macs,
                                       b * cached * latent + b * (past + q) * h * (nope + v) * c.ab + T * h * (nope + rope + v) * c.ab,
                                       c.eff.attention));
    }
    out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, h * v, H, wb, c.ab, c.eff.gemm));
    return;
  }
  const double hd = static_cast<double>(m.head_dim);
  const double kv = s.kv_heads;
  out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, H, (h * (m.attn_output_gate ? 2 : 1) + 2 * kv) * hd, wb, c.ab, c.eff.gemm));
  double macs = b * h * keys_per_query_sum * 2 * hd;
  double kv_bytes = b * cached * 2 * kv * hd * c.kvb + T * 2 * kv * hd * c.kvb;  // read cache, write new
  out.add(Part::attn_core, op_cost(c.core_dev, 2 * macs, kv_bytes + T * 2 * h * hd * c.ab, c.eff.attention));
  out.add(Part::attn_proj, gemm_cost(c.attn_dev, T, h * hd, H, wb, c.ab, c.eff.gemm));
}

// FFN of one layer. `T` tokens on this GPU's attention rank; `T_all` tokens of the stage
// (differs from T with attention DP); `imbalance`: the busiest GPU's expert load over the mean.
void price_ffn(const Ctx& c, bool moe, double T, double T_all, double imbalance, StepCost& out) {
  const ModelSpec& m = c.m;
  const Shard& s = c.s;
  const double H = static_cast<double>(m.hidden);
  const double in_mats = m.gated_ffn ? 2 : 1;
  if (!moe) {
    double f = static_cast<double>(m.ffn_dense) / s.tp;
    double wb = dtype_bytes(m.weights.dense_ffn);
    out.add(Part::dense_ffn, gemm_cost(c.dense_dev, T, H, in_mats * f, wb, c.ab, c.eff.gemm));
    out.add(Part::dense_ffn, gemm_cost(c.dense_dev, T, f, H, wb, c.ab, c.eff.gemm));
    return;
  }
  const double E = static_cast<double>(m.experts), k = static_cast<double>(m.top_k);
  // Router logits in bf16, replicated.
  out.add(Part::router, gemm_cost(c.dense_dev, T_all, H, E, 2.0, c.ab, c.eff.gemm));
  // Routed experts: assignments on the busiest GPU, and the distinct experts whose weights it
  // must read. With EP the step waits for the busiest rank: under uniform routing its share of
  // the T_all x k assignments (binomial, p = 1 / ep) and of the touched experts (each of its
  // E / ep experts touched with p = distinct / E), as the expected maximum over the ep ranks;
  // a routing trace (c.traffic) measured the busiest GPU itself, and its imbalance replaces the
  // spread.
  const double N = T_all * k, ep = s.ep;
  const double p_touch = expected_distinct_experts(E, k, T_all) / E;
  const bool measured = c.traffic || c.eff.moe_imbalance_measured;
  const double assigned =
      (measured ? N / ep : busiest_of(N / ep, N / ep * (1 - 1 / ep), ep, N)) * imbalance;
  const double touched = std::min(
      E / ep, (measured ? E / ep * p_touch : busiest_of(E / ep * p_touch, E / ep * p_touch * (1 - p_touch), ep, E / ep)) *
                  imbalance);
  const double f = static_cast<double>(m.moe_ffn) / s.moe_tp;
  const double wb = expert_weight_bytes(m.weights);
  // Grouped GEMMs: one launch over every touched expert's rows; the efficiency ramp sees all
  // `assigned` rows (see grouped_gemm_cost).
  out.add(Part::moe_experts, grouped_gemm_cost(c.expert_dev, assigned, touched, H, in_mats * f, wb, c.ab, c.eff.gemm));
  out.add(Part::moe_experts, grouped_gemm_cost(c.expert_dev, assigned, touched, f, H, wb, c.ab, c.eff.gemm));
  if (m.shared_ffn > 0) {
    double fs = static_cast<double>(m.shared_ffn) / s.tp;
    double wbs = dtype_bytes(m.weights.shared_experts);
    out.add(Part::moe_shared, gemm_cost(c.shared_dev, T, H, in_mats * fs, wbs, c.ab, c.eff.gemm));
    out.add(Part::moe_shared, gemm_cost(c.shared_dev, T, fs, H, wbs, c.ab, c.eff.gemm));
  }
}

// Collectives of one layer: after attention (TP all-reduce) and after the FFN (TP
// all-reduce, or EP dispatch + combine all-to-all when attention is data-parallel).
double layer_comm_s(const Ctx& c, bool moe, double T) {
  const double H = static_cast<double>(c.m.hidden);
  const double act = T * H * c.ab;
  double t = all_reduce(c, act, c.s.tp, c.tp_bw);
  if (moe && c.s.dp > 1) {
    // Dispatch and combine: NVLink and NIC parts priced on their own links.
    const int n = c.s.tp * c.s.dp;
    const AllToAllBytes b = c.traffic ? ep_dispatch_bytes(T, H * c.ab, *c.traffic, c.eff.a2a_node_dedup)
                                      : ep_dispatch_bytes(T, H * c.ab, static_cast<double>(c.m.top_k), n,
                                                          c.hw.gpus_per_node, c.eff.a2a_node_dedup);
    const double intra_bw = c.hw.intra_node_bw_bytes_per_s * c.eff.comm_bw;
    const double inter_bw = c.hw.inter_node_bw_bytes_per_s * c.eff.comm_bw;
    // Each exchange with a GPU on another node is a network transfer that pays the system's
    // p2p latency (AIConfigurator files charge it once per collective, which holds inside an
    // NVLink node only): n - g remote peers, or one per remote node with node dedup.
    const int g = std::min(n, c.hw.gpus_per_node);
    const double remote_peers = n <= g ? 0.0 : (c.eff.a2a_node_dedup ? static_cast<double>(n) / g - 1 : n - g);
    const double remote_s = remote_peers * c.hw.p2p_latency_s;
    if (c.hw.topology == Hardware::Topology::mesh2d) {
      // On a wafer the in-mesh part is bounded by the mesh's bisection, not a switch.
      const int dies = std::min(n, c.hw.gpus_per_node);
      const auto [rows, cols] = sub_mesh(dies, c.hw.mesh_rows, c.hw.mesh_cols);
      const double transfer = std::max(mesh_all_to_all_transfer_s(b.intra, dies, rows, cols, intra_bw),
                                       b.inter > 0 ? b.inter / inter_bw : 0.0);
      t += 2 * (c.hw.collective_start_latency_s + (rows + cols) / 3.0 * c.hop_s + transfer + remote_s);
    } else {
      t += 2 * (ep_all_to_all_s(b, n, intra_bw, inter_bw, c.hw.collective_start_latency_s, c.hop_s) + remote_s);
    }
  } else {
    t += all_reduce(c, act, c.s.tp, c.tp_bw);
  }
  return t;
}

}  // namespace

StepCost step_cost(const EstimateRequest& r, std::int64_t batch, std::int64_t new_tokens, std::int64_t past) {
  const StepSegment seg{static_cast<double>(batch), static_cast<double>(new_tokens), static_cast<double>(past)};
  return step_cost(r, std::span<const StepSegment>(&seg, 1));
}

StepCost step_cost(const EstimateRequest& r, std::span<const StepSegment> segments) {
  const ModelSpec& m = *r.model;
  const Hardware& hw = *r.hardware;
  const Efficiency& eff = r.efficiency;
  const DType a = r.precision.activations;
  Ctx c{m, hw, eff, make_shard(m, r.parallel), dtype_bytes(a), dtype_bytes(r.precision.kv_cache), {}, {}, {}, {}, {}, {}, 0, 0, hw.hop_latency_s + eff.comm_hop_overhead_s};
  c.attn_dev = make_device(hw, eff, compute_dtype(m.weights.attention, a));
  c.dense_dev = make_device(hw, eff, compute_dtype(m.weights.dense_ffn, a));
  c.shared_dev = make_device(hw, eff, compute_dtype(m.weights.shared_experts, a));
  c.expert_dev = make_device(hw, eff, compute_dtype(m.weights.experts, a));
  c.embed_dev = make_device(hw, eff, compute_dtype(m.weights.embedding, a));
  c.core_dev = make_device(hw, eff, a);
  c.tp_bw = group_bw(hw, c.s.tp, eff.comm_bw);
  c.stage_bw = group_bw(hw, c.s.tp * c.s.dp, eff.comm_bw);
  if (r.ep_traffic) c.traffic = &*r.ep_traffic;

  // Token counts over all segments: T on one attention rank, T_all over the stage; the LM
  // head runs on each sequence's last new token (every token in decode and in GenZ mode).
  double T = 0, T_all = 0, lm_tokens = 0, prefill_T = 0;
  for (const StepSegment& g : segments) {
    const double b = g.seqs / c.s.dp;
    T += b * g.new_tokens;
    T_all += g.seqs * g.new_tokens;
    const bool decode_like = g.new_tokens == 1 || g.verify;
    lm_tokens += (eff.lm_head_all_tokens || decode_like) ? b * g.new_tokens : b;
    if (!decode_like) prefill_T += b * g.new_tokens;
  }
  const double H = static_cast<double>(m.hidden);
  const double V = static_cast<double>(m.vocab);
  // Decode tokens run graph-captured: the step's per-operator overhead is the token-weighted
  // mean of the eager (prefill) and the graph (decode) overheads.
  if (eff.decode_kernel_overhead_s >= 0 && T > 0) {
    const double dec_share = (T - prefill_T) / T;
    const double ov = eff.kernel_overhead_s + dec_share * (eff.decode_kernel_overhead_s - eff.kernel_overhead_s);
    for (Device* d : {&c.attn_dev, &c.dense_dev, &c.shared_dev, &c.expert_dev, &c.embed_dev, &c.core_dev}) d->overhead_s = ov;
  }

  StepCost out;
  // Price each (attention kind, FFN kind) class once; multiply by its layer count.
  std::array<std::array<int, 2>, 3> count{};
  for (const LayerSpec& l : m.layers) ++count[static_cast<int>(l.attn)][l.moe ? 1 : 0];
  for (int kind = 0; kind < 3; ++kind) {
    for (int moe = 0; moe < 2; ++moe) {
      int n = count[kind][moe];
      if (n == 0) continue;
      StepCost layer;
      for (const StepSegment& g : segments)
        if (g.seqs > 0 && g.new_tokens > 0)
          price_attention(c, static_cast<AttnKind>(kind), g.seqs / c.s.dp, g.new_tokens, g.past,
                          g.new_tokens == 1 || g.verify, layer);
      if (moe == 1 && c.traffic && !c.traffic->layer_imbalance.empty()) {
        // Each MoE layer at its own measured imbalance: the class costs the layers' mean.
        const std::vector<double>& li = c.traffic->layer_imbalance;
        for (double imb : li) {
          StepCost one;
          price_ffn(c, true, T, T_all, imb, one);
          layer.add_scaled(one, 1.0 / static_cast<double>(li.size()));
        }
      } else {
        price_ffn(c, moe == 1, T, T_all, eff.moe_imbalance, layer);
      }
      layer.add_time(Part::comm, layer_comm_s(c, moe == 1, T));
      if (eff.elementwise_ops) {
        // Two norms and two residual adds: each reads and writes the hidden state.
        layer.add(Part::elementwise, op_cost(c.core_dev, 0, 8 * T * H * c.ab * eff.elementwise_factor, 1.0));
      }
      if (eff.comm_overlap > 0) {
        const double comm = layer.part_s[static_cast<int>(Part::comm)];
        layer.add_time(Part::comm_hidden, -eff.comm_overlap * std::min(comm, layer.time_s - comm));
      }
      out.add_scaled(layer, n);
    }
  }
  // Embedding: a row gather, or (GenZ) a one-hot GEMM; vocab-parallel, so TP all-reduces it.
  const double ewb = dtype_bytes(m.weights.embedding);
  // GenZ's convention: a GEMM in prefill and nothing at all in decode.
  if (!eff.embedding_as_gemm) {
    out.add(Part::embed_lmhead, op_cost(c.embed_dev, 0, T * H * (ewb + c.ab), 1.0));
    out.add_time(Part::comm, all_reduce(c, T * H * c.ab, c.s.tp, c.tp_bw));
  } else if (prefill_T > 0) {
    out.add(Part::embed_lmhead, gemm_cost(c.embed_dev, prefill_T, V / c.s.tp, H, ewb, c.ab, eff.gemm));
    out.add_time(Part::comm, all_reduce(c, prefill_T * H * c.ab, c.s.tp, c.tp_bw));
  }
  // LM head on each sequence's last token (GenZ: on every token), logits gathered over TP.
  out.add(Part::embed_lmhead, gemm_cost(c.embed_dev, lm_tokens, H, V / c.s.tp, ewb, c.ab, eff.gemm));
  out.add_time(Part::comm, all_gather_s(lm_tokens * V * c.ab, c.s.tp, c.tp_bw, hw.collective_start_latency_s, c.hop_s));
  // Pipeline: each stage hands the hidden states to the next.
  if (c.s.pp > 1) {
    double bw = hw.gpus_per_node >= c.s.tp * c.s.dp * c.s.pp ? hw.intra_node_bw_bytes_per_s : hw.inter_node_bw_bytes_per_s;
    out.add_time(Part::pipeline, (c.s.pp - 1) * (hw.p2p_latency_s + T * H * c.ab / (bw * eff.comm_bw)));
  }
  double seqs = 0;  // sequences in the step on one attention-DP rank
  for (const StepSegment& g : segments) seqs += g.seqs / c.s.dp;
  out.add_time(Part::overhead, eff.step_overhead_s + eff.seq_overhead_s * seqs);
  // Under a power cap the GPU throttles while it runs prompt tokens; the step stretches by
  // their share of its tokens (a pure prefill step by 1 / fraction, a decode step not at all).
  if (hw.prefill_clock_fraction < 1 && prefill_T > 0)
    out = out.scaled(1 + (1 / hw.prefill_clock_fraction - 1) * prefill_T / T);
  return out;
}

}  // namespace moeplan::perf
