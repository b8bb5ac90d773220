// moeplan::perf — readers for the measured-performance CSV files that `moeplan validate`
// compares against (../shared/data/measurements/README.md describes each source).
// Each reader checks every cell it uses and throws Error{bad_input} naming the file, the
// line and the column; cells it does not use are carried through unchecked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moeplan::perf {

// One deployment's parallel layout as AIConfigurator writes it. Empty cells are nullopt.
struct SiliconLayout {
  std::optional<std::int64_t> batch, workers, tp, pp, attention_dp, moe_tp, moe_ep;
};

// aiconfigurator-silicon: one serving benchmark at a fixed client concurrency.
struct SiliconRow {
  std::size_t line = 0;
  std::string id, backend, backend_version, model_path, system, precision, mode;  // mode: agg | disagg
  std::string gemm_quant, moe_quant;  // "" = bf16
  std::int64_t isl = 0, osl = 0;
  std::int64_t concurrency = 0;       // silicon_concurrency of the source note, else batch_size (agg) / decode_batch_size (disagg)
  SiliconLayout agg, prefill, decode;
  double ttft_s = 0, tpot_s = 0;      // measured means (the file has ms)
};
std::vector<SiliconRow> parse_silicon_csv(std::string_view text, const std::string& file);

// splitwise-perf-model: one static batch (either file: every repeat, or the medians).
struct SplitwiseRow {
  std::size_t line = 0;
  std::string model, hardware;
  std::int64_t tp = 1, batch = 1, input_tokens = 0, output_tokens = 0;
  double prompt_time_s = 0, token_time_s = 0;
};
std::vector<SplitwiseRow> parse_splitwise_csv(std::string_view text, const std::string& file);

// vidur-profiling mlp_ops_*.csv: median kernel times of one decoder layer's operators on one
// TP shard for a batch of num_tokens tokens.
struct VidurMlpRow {
  std::size_t line = 0;
  std::string hardware, model;
  std::int64_t tp = 1, num_tokens = 0, n_head = 0, n_kv_head = 0, n_embd = 0, n_expanded_embd = 0, vocab = 0;
  double qkv_s = 0, o_s = 0, up_gate_s = 0, down_s = 0;  // attn_pre_proj, attn_post_proj, mlp_up_proj, mlp_down_proj
};
std::vector<VidurMlpRow> parse_vidur_mlp_csv(std::string_view text, const std::string& file);

}  // namespace moeplan::perf
