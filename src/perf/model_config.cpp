// config.json -> ModelSpec. HuggingFace configs name the same quantity in several ways
// (num_local_experts / num_experts / n_routed_experts, ...); this file maps every spelling
// found in the bundled zoo to one field and validates ranges, naming the key on failure.
#include "moeplan/perf/model_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"

namespace moeplan::perf {

using nlohmann::json;

namespace {

// Reads keys from one JSON object, reporting errors as "<prefix><key>".
class Reader {
 public:
  Reader(const json& obj, std::string file, std::string prefix)
      : obj_(obj), file_(std::move(file)), prefix_(std::move(prefix)) {}

  const json* find(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  [[noreturn]] void fail(std::string_view key, const std::string& msg) const {
    throw_bad_input(file_, "", fmt::format("field \"{}{}\"", prefix_, key), msg);
  }

  // An integer in [lo, hi]; integral floats (4096.0) are accepted.
  std::int64_t integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
    const json* v = find(key);
    if (!v) fail(key, "missing");
    return check_int(key, *v, lo, hi);
  }
  // The first present key of `keys`, else `dflt`.
  std::int64_t integer_or(std::initializer_list<std::string_view> keys, std::int64_t dflt,
                          std::int64_t lo, std::int64_t hi) const {
    for (auto k : keys)
      if (const json* v = find(k)) return check_int(k, *v, lo, hi);
    return dflt;
  }
  bool boolean_or(std::string_view key, bool dflt) const {
    const json* v = find(key);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(key, "expected true or false");
    return v->get<bool>();
  }
  std::string string_or(std::string_view key, const std::string& dflt) const {
    const json* v = find(key);
    if (!v) return dflt;
    if (!v->is_string()) fail(key, "expected a string");
    return v->get<std::string>();
  }
  const json& object() const { return obj_; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::int64_t check_int(std::string_view key, const json& v, std::int64_t lo, std::int64_t hi) const {
    std::int64_t x = 0;
    if (v.is_number_integer() || v.is_number_unsigned()) {
      if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
        fail(key, fmt::format("{} is out of range [{}, {}]", v.dump(), lo, hi));
      x = v.get<std::int64_t>();
    } else if (v.is_number_float()) {
      double d = v.get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15)
        fail(key, fmt::format("expected an integer, found {}", v.dump()));
      x = static_cast<std::int64_t>(d);
    } else {
      fail(key, fmt::format("expected an integer, found {}", std::string(v.type_name())));
    }
    if (x < lo || x > hi) fail(key, fmt::format("{} is out of range [{}, {}]", x, lo, hi));
    return x;
  }

  const json& obj_;
  std::string file_;
  std::string prefix_;
};

constexpr std::int64_t kMaxDim = 1 << 22;       // 4M: any hidden / FFN / vocab size
constexpr std::int64_t kMaxLayers = 10000;
constexpr std::int64_t kMaxHeads = 65536;
constexpr std::int64_t kMaxExperts = 65536;

std::set<std::int64_t> int_list(const Reader& r, std::string_view key, std::int64_t hi) {
  std::set<std::int64_t> out;
  const json* v = r.find(key);
  if (!v) return out;
  if (!v->is_array()) r.fail(key, "expected a list of layer indices");
  for (const json& e : *v) {
    if (!e.is_number_integer() || e.get<std::int64_t>() < 0 || e.get<std::int64_t>() >= hi)
      r.fail(key, fmt::format("expected layer indices in [0, {}), found {}", hi, e.dump()));
    out.insert(e.get<std::int64_t>());
  }
  return out;
}

// Every string in a JSON list (or the empty list).
std::vector<std::string> strings(const json* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const json& e : *v)
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

// Typed lookups that never throw: a missing or differently-typed key gives the default.
std::string str_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int int_at(const json& obj, const char* key, int dflt) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? static_cast<int>(it->get<std::int64_t>()) : dflt;
}

bool any_contains(const std::vector<std::string>& list, std::string_view needle) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

}  // namespace

double expert_weight_bytes(const WeightDTypes& w) {
  return dtype_bytes(w.experts) + (w.experts == w.expert_scale_format ? w.expert_scale_bytes : 0.0);
}

namespace {

// quantization_config -> per-class weight formats. Modules listed as not converted keep the
// checkpoint dtype.
void read_quantization(const Reader& r, DType base, ModelSpec& m) {
  m.weights = WeightDTypes{base, base, base, base, base};
  const json* q = r.find("quantization_config");
  if (!q) return;
  if (!q->is_object()) r.fail("quantization_config", "expected an object");
  std::string method = str_at(*q, "quant_method");
  std::optional<DType> t;
  double scale_bytes = 0;  // per quantized weight
  if (method == "fp8") {
    t = DType::fp8;
    // Block-wise scales (fp32, one per weight_block_size block).
    if (auto b = q->find("weight_block_size"); b != q->end() && b->is_array() && b->size() == 2 && (*b)[0].is_number() &&
        (*b)[1].is_number() && (*b)[0].get<double>() >= 1 && (*b)[1].get<double>() >= 1)
      scale_bytes = 4.0 / ((*b)[0].get<double>() * (*b)[1].get<double>());
  } else if (method == "mxfp4") {
    t = DType::fp4;
    scale_bytes = 1.0 / 32;  // OCP MX: one e8m0 scale per 32 elements
  } else if (method == "compressed-tensors") {
    // The first config group's weight format: num_bits + type.
    if (auto g = q->find("config_groups"); g != q->end() && g->is_object()) {
      for (const auto& [name, group] : g->items()) {
        if (!group.is_object() || !group.contains("weights") || !group["weights"].is_object()) continue;
        const json& w = group["weights"];
        int bits = int_at(w, "num_bits", 0);
        std::string type = str_at(w, "type");
        if (bits == 4) t = type == "float" ? DType::fp4 : DType::int4;
        if (bits == 8) t = type == "float" ? DType::fp8 : DType::int8;
        // strategy "group": one bf16 scale per group_size weights.
        const int group_size = int_at(w, "group_size", 0);
        if (str_at(w, "strategy") == "group" && group_size > 0) scale_bytes = 2.0 / group_size;
        break;
      }
    }
  } else if (method == "awq" || method == "gptq") {
    int bits = int_at(*q, "bits", 4);
    t = bits == 8 ? DType::int8 : DType::int4;
    // fp16 scale per group (AWQ adds a packed zero point, half a byte, per group too).
    const int group = int_at(*q, "group_size", 128);
    if (group > 0) scale_bytes = (2.0 + (method == "awq" ? 0.5 : 0.0)) / group;
  } else if (method == "modelopt") {
    std::string algo = str_at(*q, "quant_algo");
    t = parse_dtype(algo);
  }
  if (!t) {
    m.warnings.push_back(fmt::format("quantization_config: quant_method \"{}\" not recognised; weights taken as {}",
                                     method, dtype_name(base)));
    return;
  }
  std::vector<std::string> skip = strings(q->contains("modules_to_not_convert") ? &(*q)["modules_to_not_convert"] : nullptr);
  for (auto& s : strings(q->contains("ignore") ? &(*q)["ignore"] : nullptr)) skip.push_back(s);
  m.weights.attention = any_contains(skip, "self_attn") ? base : *t;
  m.weights.shared_experts = any_contains(skip, "shared_expert") ? base : *t;
  m.weights.dense_ffn = any_contains(skip, "mlp\\.(gate|up") ? base : *t;
  m.weights.experts = *t;
  m.weights.expert_scale_bytes = scale_bytes;
  m.weights.expert_scale_format = *t;
  // Embeddings and the LM head stay in the checkpoint dtype in every scheme seen.
  m.weights.embedding = base;
}

void read_attention(const Reader& r, ModelSpec& m) {
  m.heads = r.integer_or({"num_attention_heads", "n_head", "num_heads"}, -1, 1, kMaxHeads);
  if (m.heads < 0) r.fail("num_attention_heads", "missing");
  m.kv_heads = r.integer_or({"num_key_value_heads", "num_kv_heads"}, m.heads, 1, kMaxHeads);
  if (m.heads % m.kv_heads != 0)
    r.fail("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}", m.kv_heads, m.heads));
  m.head_dim = r.integer_or({"head_dim"}, 0, 1, kMaxDim);
  if (m.head_dim == 0) {
    if (m.hidden % m.heads != 0)
      r.fail("num_attention_heads", fmt::format("{} does not divide hidden_size {} and head_dim is absent", m.heads, m.hidden));
    m.head_dim = m.hidden / m.heads;
  }
  m.attention_bias = r.boolean_or("attention_bias", r.boolean_or("qkv_bias", false));
  m.attn_output_gate = r.boolean_or("attn_output_gate", false);

  std::int64_t kv_lora = r.integer_or({"kv_lora_rank"}, 0, 0, kMaxDim);
  if (kv_lora > 0) {
    m.mla = true;
    m.mla_dims.kv_lora_rank = kv_lora;
    m.mla_dims.q_lora_rank = r.integer_or({"q_lora_rank"}, 0, 0, kMaxDim);
    m.mla_dims.qk_rope_head_dim = r.integer("qk_rope_head_dim", 1, kMaxDim);
    m.mla_dims.qk_nope_head_dim = r.integer("qk_nope_head_dim", 0, kMaxDim);
    m.mla_dims.v_head_dim = r.integer("v_head_dim", 1, kMaxDim);
  }
  if (r.has("index_topk"))
    m.warnings.push_back(fmt::format(
        "sparse attention (DSA, index_topk {}) not modelled: attention priced as dense {}",
        r.integer("index_topk", 1, 1LL << 40), m.mla ? "MLA" : "attention"));
  if (r.has("attention_chunk_size"))
    m.warnings.push_back("chunked attention (attention_chunk_size) not modelled: every layer priced as full attention");
}

void read_layer_types(const Reader& r, ModelSpec& m) {
  std::int64_t n = m.num_layers();
  m.sliding_window = r.integer_or({"sliding_window"}, 0, 0, 1LL << 40);
  if (const json* lt = r.find("layer_types")) {
    if (!lt->is_array() || static_cast<std::int64_t>(lt->size()) != n)
      r.fail("layer_types", fmt::format("expected a list of {} layer types (num_hidden_layers)", n));
    std::int64_t linear = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const json& e = (*lt)[static_cast<std::size_t>(i)];
      std::string s = e.is_string() ? e.get<std::string>() : std::string();
      if (s == "full_attention" || s == "attention") {
        m.layers[i].attn = AttnKind::full;
      } else if (s == "sliding_attention") {
        if (m.sliding_window <= 0) r.fail("sliding_window", "missing, but layer_types has sliding_attention");
        m.layers[i].attn = AttnKind::sliding;
      } else if (s == "linear_attention") {
        m.layers[i].attn = AttnKind::linear;
        ++linear;
      } else {
        r.fail("layer_types", fmt::format("layer {}: unknown layer type {}", i, e.dump()));
      }
    }
    if (linear > 0) {
      m.linear_dims.key_heads = r.integer("linear_num_key_heads", 1, kMaxHeads);
      m.linear_dims.value_heads = r.integer("linear_num_value_heads", 1, kMaxHeads);
      m.linear_dims.key_head_dim = r.integer("linear_key_head_dim", 1, kMaxDim);
      m.linear_dims.value_head_dim = r.integer("linear_value_head_dim", 1, kMaxDim);
      m.linear_dims.conv_kernel = r.integer_or({"linear_conv_kernel_dim"}, 4, 1, 1024);
      m.warnings.push_back(fmt::format(
          "hybrid linear attention ({} of {} layers) not modelled: those layers are priced by their "
          "projections only, with no KV cache",
          linear, n));
    }
    return;
  }
  // No layer_types: Mistral-style sliding window on every layer, or Qwen2-style window on
  // layers >= max_window_layers when use_sliding_window is set.
  if (m.sliding_window > 0 && r.boolean_or("use_sliding_window", true)) {
    std::int64_t from = r.has("use_sliding_window") ? r.integer_or({"max_window_layers"}, 0, 0, kMaxLayers) : 0;
    for (std::int64_t i = from; i < n; ++i) m.layers[i].attn = AttnKind::sliding;
  }
}

void read_moe(const Reader& r, ModelSpec& m) {
  std::int64_t n = m.num_layers();
  m.experts = r.integer_or({"n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts"}, 0, 0, kMaxExperts);
  if (m.experts == 0) return;
  m.top_k = r.integer_or({"num_experts_per_tok", "experts_per_token", "moe_topk", "top_k"}, -1, 1, kMaxExperts);
  if (m.top_k < 0) r.fail("num_experts_per_tok", "missing for a MoE model");
  if (m.top_k > m.experts)
    r.fail("num_experts_per_tok", fmt::format("{} exceeds the {} routed experts", m.top_k, m.experts));
  // Mixtral-style configs give the expert width as intermediate_size.
  m.moe_ffn = r.integer_or({"moe_intermediate_size"}, 0, 1, kMaxDim);
  if (m.moe_ffn == 0) {
    m.moe_ffn = r.integer_or({"intermediate_size"}, 0, 1, kMaxDim);
    if (m.moe_ffn == 0) r.fail("moe_intermediate_size", "missing for a MoE model");
  }
  std::int64_t n_shared = r.integer_or({"n_shared_experts", "num_shared_experts"}, 0, 0, kMaxExperts);
  std::int64_t shared_width = r.integer_or({"shared_expert_intermediate_size", "shared_intermediate_size"}, 0, 0, kMaxDim);
  if (n_shared > 0) {
    m.shared_count = n_shared;
    m.shared_ffn = n_shared * m.moe_ffn;
  } else if (shared_width > 0) {
    m.shared_count = 1;
    m.shared_ffn = shared_width;
  } else if (m.model_type.rfind("llama4", 0) == 0) {
    // Llama 4 always has one shared expert as wide as a routed one (not a config key).
    m.shared_count = 1;
    m.shared_ffn = m.moe_ffn;
  }

  // Which layers are MoE: the spelling decides the rule (as in each model's HF code).
  if (r.has("first_k_dense_replace") || r.has("moe_layer_freq")) {
    std::int64_t first = r.integer_or({"first_k_dense_replace"}, 0, 0, n);
    std::int64_t freq = r.integer_or({"moe_layer_freq"}, 1, 1, kMaxLayers);
    for (std::int64_t i = 0; i < n; ++i) m.layers[i].moe = i >= first && i % freq == 0;
  } else if (r.has("interleave_moe_layer_step")) {
    std::int64_t step = r.integer("interleave_moe_layer_step", 1, kMaxLayers);
    for (std::int64_t i = 0; i < n; ++i) m.layers[i].moe = (i + 1) % step == 0;
  } else {
    std::int64_t step = r.integer_or({"decoder_sparse_step"}, 1, 1, kMaxLayers);
    auto dense_only = int_list(r, "mlp_only_layers", n);
    for (std::int64_t i = 0; i < n; ++i) m.layers[i].moe = !dense_only.count(i) && (i + 1) % step == 0;
  }
}

ModelSpec parse_object(const json& root, const std::string& file, const std::string& name) {
  if (!root.is_object()) throw_bad_input(file, "", "", "expected a JSON object (a HuggingFace config.json)");
  // Multimodal wrappers (Llama 4, Qwen3.5, Kimi-K2.5) nest the language model.
  bool nested = root.contains("text_config") && root["text_config"].is_object() && !root.contains("hidden_size");
  const json& obj = nested ? root["text_config"] : root;
  Reader r(obj, file, nested ? "text_config." : "");
  Reader top(root, file, "");

  ModelSpec m;
  m.name = name;
  m.model_type = r.string_or("model_type", top.string_or("model_type", ""));
  m.hidden = r.integer_or({"hidden_size", "n_embed", "n_embd", "d_model"}, -1, 1, kMaxDim);
  if (m.hidden < 0) r.fail("hidden_size", "missing");
  std::int64_t n = r.integer_or({"num_hidden_layers", "n_layer", "num_layers"}, -1, 1, kMaxLayers);
  if (n < 0) r.fail("num_hidden_layers", "missing");
  m.layers.assign(static_cast<std::size_t>(n), LayerSpec{});
  m.vocab = r.integer("vocab_size", 1, kMaxDim);
  m.tied_embeddings = r.boolean_or("tie_word_embeddings", top.boolean_or("tie_word_embeddings", false));

  read_attention(r, m);
  // Dense FFN width: Llama 4 names it intermediate_size_mlp (intermediate_size is the expert
  // width there); BLOOM-style configs have none and use 4 x hidden with a plain GELU FFN.
  m.ffn_dense = r.integer_or({"intermediate_size_mlp", "intermediate_size", "ffn_hidden_size", "n_inner"}, 0, 1, kMaxDim);
  if (m.ffn_dense == 0) {
    m.ffn_dense = 4 * m.hidden;
    m.gated_ffn = false;
    m.ffn_bias = true;
  }
  if (m.model_type == "bloom" || m.model_type == "gpt2" || m.model_type == "opt") {
    m.gated_ffn = false;
    m.ffn_bias = true;
    m.attention_bias = true;
  }
  read_layer_types(r, m);
  read_moe(r, m);
  m.mtp_layers = r.integer_or({"num_nextn_predict_layers", "mtp_num_hidden_layers"}, 0, 0, kMaxLayers);

  std::string base_name = r.string_or("torch_dtype", r.string_or("dtype", top.string_or("torch_dtype", "bfloat16")));
  DType base = parse_dtype(base_name).value_or(DType::bf16);
  if (base == DType::f32) base = DType::bf16;  // fp32 checkpoints are served in bf16
  read_quantization(r.has("quantization_config") ? r : top, base, m);
  return m;
}

}  // namespace

std::int64_t ModelSpec::num_moe_layers() const {
  return std::count_if(layers.begin(), layers.end(), [](const LayerSpec& l) { return l.moe; });
}

ModelSpec parse_model_config(std::string_view json_text, const std::string& file) {
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Re-parse with exceptions only to get the position of the syntax error.
    try {
      json again = json::parse(json_text.begin(), json_text.end());
      (void)again;
    } catch (const json::parse_error& e) {
      throw_bad_input(file, "", "", fmt::format("not valid JSON (byte {})", e.byte));
    } catch (const json::exception&) {  // e.g. a number overflow such as 1e400
      throw_bad_input(file, "", "", "not valid JSON (a number is out of range)");
    }
    throw_bad_input(file, "", "", "not valid JSON");
  }
  std::string name = std::filesystem::path(file).stem().string();
  return parse_object(root, file, name);
}

ModelSpec load_model_config(const std::string& path) {
  std::vector<char> bytes = io::read_file(path);
  return parse_model_config(std::string_view(bytes.data(), bytes.size()), path);
}

}  // namespace moeplan::perf
