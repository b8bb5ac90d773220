// moeplan::perf — the built-in model zoo: short names for the config.json files bundled in
// data/models/, and model lookup by zoo name, HuggingFace id or path.
#pragma once

#include <span>
#include <string>

#include "moeplan/perf/model_config.hpp"

namespace moeplan::perf {

struct ZooEntry {
  const char* name;  // e.g. "deepseek-v3"
  const char* file;  // file name under data/models/
};

std::span<const ZooEntry> zoo();

// The folder holding the bundled configs: $MOEPLAN_DATA_DIR/models, else data/models beside
// the executable's install or build tree, else the source tree this library was built from.
// Throws Error{io} when none exists.
std::string zoo_dir();

// `what` is a zoo name ("deepseek-v3"), a HuggingFace id ("deepseek-ai/DeepSeek-V3") of a
// bundled config, or a path to a config.json. Zoo models are named by their zoo name.
ModelSpec load_model(const std::string& what);

// The zoo name of the bundled config a HuggingFace id runs: the exact id, else the same model
// after normalising both names (case and organisation ignored, a leading "Meta-" and every
// "-Instruct" dropped, and trailing "-hf", "-FP8", "-NVFP4", "-FP4", "-AWQ", "-BF16" and 4-digit release
// tags such as "-0324" or "-2507" removed): "deepseek-ai/DeepSeek-V3-0324" -> "deepseek-v3",
// "zai-org/GLM-5" -> "glm-5". Exact matches win; "" when nothing matches. Formats come from
// the caller (a normalised match may name a checkpoint of another precision).
std::string zoo_name_for_id(const std::string& hf_id);

}  // namespace moeplan::perf
