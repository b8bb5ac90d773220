// libFuzzer target: the MoE-Beyond CSV parser on arbitrary bytes. A bad input must end in
// moeplan::Error; anything else (crash, other exception, leak, UB) is a finding.
#include <cstddef>
#include <cstdint>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::trace::parse_moe_beyond_csv({reinterpret_cast<const char*>(data), size}, "fuzz/prompt_1_data.csv", "fuzz");
  } catch (const moeplan::Error&) {
  }
  return 0;
}
