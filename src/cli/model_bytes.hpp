// Options that turn token counts into bytes: the model (or hidden size) and the message
// formats of the all-to-all. Shared by `traffic` and `place`.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "moeplan/placement/traffic.hpp"

namespace moeplan::cli {

struct ModelBytesOptions {
  std::string model;
  std::optional<std::int64_t> hidden;
  std::string dispatch_dtype = "fp8", combine_dtype = "bf16";

  struct Resolved {
    // Message bytes per token, or nullopt when neither --model nor --hidden-size was given.
    std::optional<placement::MessageBytes> message;
    // Bytes of one routed expert's weights (needs a MoE --model), or nullopt.
    std::optional<double> expert_weight;
  };

  void add_to(CLI::App* cmd);
  // Reads the model (once) and gives both sizes.
  Resolved resolve() const;
};

}  // namespace moeplan::cli
