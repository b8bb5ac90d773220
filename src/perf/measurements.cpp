// The three measurement CSV readers, on top of perf/csv.hpp.
#include "moeplan/perf/measurements.hpp"

#include <array>
#include <cctype>
#include <optional>

#include "perf/csv.hpp"

namespace moeplan::perf {

namespace {

constexpr std::int64_t kMaxTokens = std::int64_t{1} << 24;
constexpr std::int64_t kMaxGpus = 1 << 16;

SiliconLayout layout(const csv::Table& t, const csv::Cells& c, const std::string& prefix) {
  auto get = [&](const char* name, std::int64_t lo, std::int64_t hi) {
    return c.opt_integer(t.column(prefix + name), lo, hi);
  };
  SiliconLayout l;
  l.batch = get("batch_size", 1, kMaxTokens);
  // The aggregated layout has no worker count (one replica per row).
  if (auto col = t.find_column(prefix + "num_workers")) l.workers = c.opt_integer(*col, 1, kMaxGpus);
  l.tp = get("tp_size", 1, kMaxGpus);
  l.pp = get("pp_size", 1, kMaxGpus);
  l.attention_dp = get("attention_dp_size", 1, kMaxGpus);
  // 0 occurs in the data (a dense model with moe_ep_size 0); the validator skips such rows.
  l.moe_tp = get("moe_tp_size", 0, kMaxGpus);
  l.moe_ep = get("moe_ep_size", 0, kMaxGpus);
  return l;
}

// `silicon_concurrency=N` in a row's source note, if there.
std::optional<std::int64_t> noted_concurrency(const std::string& src) {
  const std::string key = "silicon_concurrency=";
  std::size_t at = src.find(key);
  if (at == std::string::npos) return std::nullopt;
  at += key.size();
  std::size_t digits = 0;
  while (at + digits < src.size() && digits < 9 && std::isdigit(static_cast<unsigned char>(src[at + digits]))) ++digits;
  if (digits == 0) return std::nullopt;
  return std::stoll(src.substr(at, digits));
}

}  // namespace

std::vector<SiliconRow> parse_silicon_csv(std::string_view text, const std::string& file) {
  static constexpr std::array<const char*, 34> kRequired{
      "id", "silicon_data_source", "backend", "backend_version", "model_path", "system", "precision", "mode", "isl",
      "osl", "gemm_quant_mode", "moe_quant_mode", "batch_size", "tp_size", "pp_size", "attention_dp_size",
      "moe_tp_size", "moe_ep_size", "prefill_batch_size", "prefill_num_workers", "prefill_tp_size",
      "prefill_pp_size", "prefill_attention_dp_size", "prefill_moe_tp_size", "prefill_moe_ep_size",
      "decode_batch_size", "decode_num_workers", "decode_tp_size", "decode_pp_size", "decode_attention_dp_size",
      "decode_moe_tp_size", "decode_moe_ep_size", "silicon_ttft_ms", "silicon_tpot_ms"};
  csv::Table t = csv::parse(text, file, kRequired);
  std::vector<SiliconRow> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    csv::Cells c(t, r);
    SiliconRow s;
    s.line = r.line;
    s.id = c.str(t.column("id"));
    s.backend = c.str(t.column("backend"));
    s.backend_version = c.str(t.column("backend_version"));
    s.model_path = c.str(t.column("model_path"));
    s.system = c.str(t.column("system"));
    s.precision = c.str(t.column("precision"));
    s.mode = c.str(t.column("mode"));
    s.gemm_quant = c.str(t.column("gemm_quant_mode"));
    s.moe_quant = c.str(t.column("moe_quant_mode"));
    if (s.model_path.empty()) c.fail(t.column("model_path"), "empty");
    if (s.system.empty()) c.fail(t.column("system"), "empty");
    if (s.mode != "agg" && s.mode != "disagg") c.fail(t.column("mode"), "\"" + s.mode + "\" is neither agg nor disagg");
    s.isl = c.integer(t.column("isl"), 1, kMaxTokens);
    s.osl = c.integer(t.column("osl"), 1, kMaxTokens);
    s.agg = layout(t, c, "");
    s.prefill = layout(t, c, "prefill_");
    s.decode = layout(t, c, "decode_");
    // The client concurrency is in the source note (`silicon_concurrency=N`). `batch_size` is
    // the engine's batch per rank in some sources: every aggregated row with attention DP states
    // silicon_concurrency = batch_size x attention_dp_size. Rows without the note have only the
    // batch (agg) or the decode pool's batch (disagg), which then stands for it.
    const std::optional<std::int64_t> noted = noted_concurrency(c.str(t.column("silicon_data_source")));
    if (s.mode == "agg") {
      if (!s.agg.batch) c.fail(t.column("batch_size"), "empty on an agg row");
      if (!s.agg.tp) c.fail(t.column("tp_size"), "empty on an agg row");
      s.concurrency = noted.value_or(*s.agg.batch);
    } else {
      if (!s.prefill.tp) c.fail(t.column("prefill_tp_size"), "empty on a disagg row");
      if (!s.decode.tp) c.fail(t.column("decode_tp_size"), "empty on a disagg row");
      if (noted) {
        s.concurrency = *noted;
      } else if (s.decode.batch) {
        s.concurrency = *s.decode.batch;
      } else {
        c.fail(t.column("decode_batch_size"), "empty on a disagg row without silicon_concurrency=N");
      }
    }
    if (s.concurrency < 1) c.fail(t.column("silicon_data_source"), "silicon_concurrency must be >= 1");
    s.ttft_s = c.number(t.column("silicon_ttft_ms")) / 1e3;
    s.tpot_s = c.number(t.column("silicon_tpot_ms")) / 1e3;
    if (s.ttft_s <= 0) c.fail(t.column("silicon_ttft_ms"), "must be positive");
    if (s.tpot_s <= 0) c.fail(t.column("silicon_tpot_ms"), "must be positive");
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<SplitwiseRow> parse_splitwise_csv(std::string_view text, const std::string& file) {
  static constexpr std::array<const char*, 8> kRequired{"model", "hardware", "tp", "batch_size", "input_tokens",
                                                        "output_tokens", "prompt_time_s", "token_time_s"};
  csv::Table t = csv::parse(text, file, kRequired);
  std::vector<SplitwiseRow> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    csv::Cells c(t, r);
    SplitwiseRow s;
    s.line = r.line;
    s.model = c.str(t.column("model"));
    s.hardware = c.str(t.column("hardware"));
    if (s.model.empty()) c.fail(t.column("model"), "empty");
    if (s.hardware.empty()) c.fail(t.column("hardware"), "empty");
    s.tp = c.integer(t.column("tp"), 1, kMaxGpus);
    s.batch = c.integer(t.column("batch_size"), 1, kMaxTokens);
    s.input_tokens = c.integer(t.column("input_tokens"), 1, kMaxTokens);
    s.output_tokens = c.integer(t.column("output_tokens"), 1, kMaxTokens);
    s.prompt_time_s = c.number(t.column("prompt_time_s"));
    s.token_time_s = c.number(t.column("token_time_s"));
    if (s.prompt_time_s <= 0) c.fail(t.column("prompt_time_s"), "must be positive");
    if (s.token_time_s <= 0) c.fail(t.column("token_time_s"), "must be positive");
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<VidurMlpRow> parse_vidur_mlp_csv(std::string_view text, const std::string& file) {
  static constexpr std::array<const char*, 13> kRequired{
      "hardware", "model", "tp", "num_tokens", "n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size",
      "attn_pre_proj_median_s", "attn_post_proj_median_s", "mlp_up_proj_median_s", "mlp_down_proj_median_s"};
  csv::Table t = csv::parse(text, file, kRequired);
  std::vector<VidurMlpRow> out;
  out.reserve(t.rows.size());
  for (const auto& r : t.rows) {
    csv::Cells c(t, r);
    VidurMlpRow v;
    v.line = r.line;
    v.hardware = c.str(t.column("hardware"));
    v.model = c.str(t.column("model"));
    v.tp = c.integer(t.column("tp"), 1, 1024);
    v.num_tokens = c.integer(t.column("num_tokens"), 1, kMaxTokens);
    v.n_head = c.integer(t.column("n_head"), 1, 1 << 20);
    v.n_kv_head = c.integer(t.column("n_kv_head"), 1, 1 << 20);
    v.n_embd = c.integer(t.column("n_embd"), 1, 1 << 24);
    v.n_expanded_embd = c.integer(t.column("n_expanded_embd"), 1, 1 << 24);
    v.vocab = c.integer(t.column("vocab_size"), 1, 1 << 26);
    if (v.n_embd % v.n_head != 0) c.fail(t.column("n_head"), "does not divide n_embd");
    if (v.n_head % v.n_kv_head != 0) c.fail(t.column("n_kv_head"), "does not divide n_head");
    if (v.n_head % v.tp != 0) c.fail(t.column("tp"), "does not divide n_head");
    v.qkv_s = c.number(t.column("attn_pre_proj_median_s"));
    v.o_s = c.number(t.column("attn_post_proj_median_s"));
    v.up_gate_s = c.number(t.column("mlp_up_proj_median_s"));
    v.down_s = c.number(t.column("mlp_down_proj_median_s"));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace moeplan::perf
