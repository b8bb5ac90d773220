// libFuzzer target: the placement readers (moeplan JSON, SGLang JSON, TensorRT-LLM YAML) on
// arbitrary bytes. Only moeplan::Error may escape; an accepted placement must pass check()
// and survive a write/read round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/placement/placement.hpp"

using moeplan::placement::Cluster;
using moeplan::placement::Placement;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const Cluster small{2, 2, 2};  // the engine formats carry no cluster: a fixed one, 8 slots
  try {
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) {
      if (j.is_object() && j.contains("physical_to_logical_map")) {
        Placement p = moeplan::placement::from_sglang(j, small, 6, "fuzz.json");
        if (!(moeplan::placement::from_sglang(moeplan::placement::to_sglang(p), small, 6, "again") == p)) std::abort();
      } else {
        Placement p = moeplan::placement::placement_from_json(j, "fuzz.json");
        if (!(moeplan::placement::placement_from_json(moeplan::placement::to_json(p), "again") == p)) std::abort();
      }
    }
  } catch (const moeplan::Error&) {
  }
  try {
    Placement p = moeplan::placement::from_trtllm_yaml(text, small, 6, "fuzz.yaml");
    if (!(moeplan::placement::from_trtllm_yaml(moeplan::placement::to_trtllm_yaml(p), small, 6, "again") == p))
      std::abort();
  } catch (const moeplan::Error&) {
  }
  return 0;
}
