// libFuzzer target: the config.json parser on arbitrary bytes. Only moeplan::Error may
// escape the parser; anything else (a crash, another exception) is a bug. Accepted configs
// must also count parameters without trouble.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::perf::ModelSpec m =
        moeplan::perf::parse_model_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    (void)moeplan::perf::count_params(m);
  } catch (const moeplan::Error&) {
  }
  return 0;
}
