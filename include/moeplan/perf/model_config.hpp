// moeplan::perf — a model's architecture, read from a HuggingFace config.json.
// Owns: ModelSpec (the normalised shape every estimator uses), the config.json parser and
// parameter counting. Knows nothing about hardware or parallelism.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "moeplan/perf/dtype.hpp"

namespace moeplan::perf {

// How a layer's token mixer works. `linear` is a recurrent / linear-attention layer (e.g.
// Qwen3.5 Gated DeltaNet): moeplan prices its projections only and gives it no KV cache.
enum class AttnKind : std::uint8_t { full, sliding, linear };

struct LayerSpec {
  AttnKind attn = AttnKind::full;
  bool moe = false;  // routed-expert FFN (else dense FFN)
};

// Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2, GLM-5).
struct MlaDims {
  std::int64_t kv_lora_rank = 0;
  std::int64_t q_lora_rank = 0;  // 0: queries projected directly from the hidden state
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t v_head_dim = 0;
};

// Linear-attention projections (Qwen3.5 style), used only for `AttnKind::linear` layers.
struct LinearAttnDims {
  std::int64_t key_heads = 0, value_heads = 0, key_head_dim = 0, value_head_dim = 0, conv_kernel = 0;
};

// Storage format of each weight class, from quantization_config (or the dtype override).
struct WeightDTypes {
  DType attention = DType::bf16;
  DType dense_ffn = DType::bf16;
  DType shared_experts = DType::bf16;
  DType experts = DType::bf16;
  DType embedding = DType::bf16;  // input embedding and LM head
  // Bytes of quantization scales per routed-expert weight, read with the weights: bf16 scales
  // per group of 32 int4 weights add 2/32, mxfp4's e8m0 per 32 add 1/32, fp8 blocks of 128 x 128
  // with fp32 scales add 4/16384; 0 for unquantized experts or unknown layouts. They hold for
  // the checkpoint's format `expert_scale_format` only: experts overridden to another format
  // (a --dtype, a measurement row) carry none.
  double expert_scale_bytes = 0;
  DType expert_scale_format = DType::bf16;
};

// Bytes per routed-expert weight: the format's bytes plus its quantization scales.
double expert_weight_bytes(const WeightDTypes& w);

struct ModelSpec {
  std::string name;        // file stem or zoo name
  std::string model_type;  // config "model_type" (of text_config when nested)
  std::int64_t hidden = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab = 0;
  bool tied_embeddings = false;
  bool attention_bias = false;
  bool attn_output_gate = false;  // query projection doubled (Qwen3.5 gated attention)
  bool gated_ffn = true;          // SwiGLU (gate, up, down) vs two-matrix FFN (BLOOM)
  bool ffn_bias = false;
  std::int64_t ffn_dense = 0;     // intermediate size of dense-FFN layers

  // MoE (experts == 0: dense model)
  std::int64_t experts = 0;
  std::int64_t top_k = 0;
  std::int64_t moe_ffn = 0;        // width of one routed expert
  std::int64_t shared_ffn = 0;     // total width of the shared expert(s); 0: none
  std::int64_t shared_count = 0;   // number of shared experts (for reporting)

  bool mla = false;
  MlaDims mla_dims;
  LinearAttnDims linear_dims;
  std::int64_t sliding_window = 0;  // tokens; used by AttnKind::sliding layers
  std::int64_t mtp_layers = 0;      // multi-token-prediction modules (not counted, not run)

  std::vector<LayerSpec> layers;
  WeightDTypes weights;
  // Architecture features present in the config that moeplan does not model, one line each.
  std::vector<std::string> warnings;

  std::int64_t num_layers() const { return static_cast<std::int64_t>(layers.size()); }
  std::int64_t num_moe_layers() const;
  bool is_moe() const { return experts > 0; }
};

// Parses config.json text. `file` names the source in errors. Throws Error{bad_input} with
// the field named when a required key is missing, has the wrong type or an impossible value.
ModelSpec parse_model_config(std::string_view json_text, const std::string& file);
// Reads and parses a config.json file (Error{io} when unreadable).
ModelSpec load_model_config(const std::string& path);

// Parameter counts (elements, not bytes). Norm weights and biases are included; the MTP
// modules are not (DeepSeek-V3's published 671B excludes them too).
struct ParamCounts {
  double embedding = 0;  // input embedding + LM head (once when tied)
  double attention = 0;
  double dense_ffn = 0;
  double routed_experts = 0;
  double shared_experts = 0;
  double router = 0;
  double norms = 0;
  double total = 0;
  double active = 0;  // per token: all but the routed experts, plus top_k of them
};
ParamCounts count_params(const ModelSpec& m);

// Elements of one layer's attention weights (per model, not per GPU).
double attention_params(const ModelSpec& m, AttnKind kind);

}  // namespace moeplan::perf
