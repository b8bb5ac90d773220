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

ModelBytesOptions::Resolved ModelBytesOptions::resolve() const {
  if (hidden && !model.empty()) throw Error(ErrorKind::usage, {}, "--model and --hidden-size exclude each other");
  Resolved r;
  std::optional<std::int64_t> h = hidden;
  if (!model.empty()) {
    const perf::ModelSpec m = perf::load_model(model);
    h = m.hidden;
    if (m.is_moe()) {
      const double matrices = m.gated_ffn ? 3.0 : 2.0;
      r.expert_weight = matrices * static_cast<double>(m.hidden) * static_cast<double>(m.moe_ffn) *
                        perf::dtype_bytes(m.weights.experts);
    }
  }
  if (h)
    r.message = placement::MessageBytes{placement::token_bytes(*h, dispatch_dtype), placement::token_bytes(*h, combine_dtype)};
  return r;
}

}  // namespace moeplan::cli
