#include "cli/model_bytes.hpp"

#include "moeplan/io/error.hpp"
#include "moeplan/perf/dtype.hpp"
#include "moeplan/perf/zoo.hpp"

namespace moeplan::cli {

void ModelBytesOptions::add_to(CLI::App* cmd) {
  cmd->add_option("--model", model, "Model for the hidden size: zoo name (deepseek-v3, ...), HF id or config.json path");
  cmd->add_option("--hidden-size", hidden, "Hidden size (elements per token), instead of --model")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24));
  cmd->add_option("--dispatch-dtype", dispatch_dtype, "Dispatch message format (fp8 adds one fp32 scale per 128 elements)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp8", "bf16", "fp16", "fp32"}));
  cmd->add_option("--combine-dtype", combine_dtype, "Combine message format")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp8", "bf16", "fp16", "fp32"}));
}

std::optional<placement::MessageBytes> ModelBytesOptions::message_bytes() const {
  if (hidden && !model.empty()) throw Error(ErrorKind::usage, {}, "--model and --hidden-size exclude each other");
  std::optional<std::int64_t> h = hidden;
  if (!model.empty()) h = perf::load_model(model).hidden;
  if (!h) return std::nullopt;
  return placement::MessageBytes{placement::token_bytes(*h, dispatch_dtype), placement::token_bytes(*h, combine_dtype)};
}

std::optional<double> ModelBytesOptions::expert_weight_bytes() const {
  if (model.empty()) return std::nullopt;
  const perf::ModelSpec m = perf::load_model(model);
  if (!m.is_moe()) return std::nullopt;
  const double matrices = m.gated_ffn ? 3.0 : 2.0;
  return matrices * static_cast<double>(m.hidden) * static_cast<double>(m.moe_ffn) * perf::dtype_bytes(m.weights.experts);
}

}  // namespace moeplan::cli
