// Parameter counting from a ModelSpec. The formulas follow the HF module layout of each
// architecture; they are checked against published totals in tests/test_perf_model_config.cpp.
#include "moeplan/perf/model_config.hpp"

namespace moeplan::perf {

double attention_params(const ModelSpec& m, AttnKind kind) {
  const double H = static_cast<double>(m.hidden);
  if (kind == AttnKind::linear) {
    // Gated DeltaNet: in_proj_qkvz, in_proj_ba, depthwise conv over q/k/v, out_proj, per-head
    // A/dt and the gated norm.
    const auto& d = m.linear_dims;
    double key = static_cast<double>(d.key_heads * d.key_head_dim);
    double val = static_cast<double>(d.value_heads * d.value_head_dim);
    return H * (2 * key + 2 * val) + H * 2.0 * d.value_heads + (2 * key + val) * d.conv_kernel +
           2.0 * d.value_heads + d.value_head_dim + val * H;
  }
  const double nh = static_cast<double>(m.heads);
  if (m.mla) {
    const auto& d = m.mla_dims;
    double qk = static_cast<double>(d.qk_nope_head_dim + d.qk_rope_head_dim);
    double q = d.q_lora_rank > 0
                   ? H * d.q_lora_rank + d.q_lora_rank + static_cast<double>(d.q_lora_rank) * nh * qk
                   : H * nh * qk;
    double kv = H * (d.kv_lora_rank + d.qk_rope_head_dim) + d.kv_lora_rank +
                static_cast<double>(d.kv_lora_rank) * nh * (d.qk_nope_head_dim + d.v_head_dim);
    double o = nh * d.v_head_dim * H;
    return q + kv + o;
  }
  double hd = static_cast<double>(m.head_dim);
  double q_out = nh * hd * (m.attn_output_gate ? 2 : 1);
  double kv_out = 2.0 * m.kv_heads * hd;
  double p = H * (q_out + kv_out) + nh * hd * H;
  if (m.attention_bias) p += q_out + kv_out + H;
  return p;
}

ParamCounts count_params(const ModelSpec& m) {
  ParamCounts c;
  const double H = static_cast<double>(m.hidden);
  const double mats = m.gated_ffn ? 3 : 2;
  auto ffn = [&](double width) { return mats * H * width + (m.ffn_bias ? width + H : 0.0); };
  c.embedding = static_cast<double>(m.vocab) * H * (m.tied_embeddings ? 1 : 2);
  double active_experts = 0;
  for (const LayerSpec& l : m.layers) {
    c.attention += attention_params(m, l.attn);
    c.norms += 2 * H * (m.ffn_bias ? 2 : 1);  // pre-attention and pre-FFN norms (+ LayerNorm bias)
    if (l.moe) {
      c.routed_experts += static_cast<double>(m.experts) * ffn(static_cast<double>(m.moe_ffn));
      active_experts += static_cast<double>(m.top_k) * ffn(static_cast<double>(m.moe_ffn));
      if (m.shared_ffn > 0) c.shared_experts += ffn(static_cast<double>(m.shared_ffn));
      c.router += static_cast<double>(m.experts) * H;
    } else {
      c.dense_ffn += ffn(static_cast<double>(m.ffn_dense));
    }
  }
  c.norms += H;  // final norm
  c.total = c.embedding + c.attention + c.dense_ffn + c.routed_experts + c.shared_experts + c.router + c.norms;
  c.active = c.total - c.routed_experts + active_experts;
  return c;
}

}  // namespace moeplan::perf
