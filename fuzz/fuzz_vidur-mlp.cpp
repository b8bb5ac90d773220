// libFuzzer target: the vidur-mlp measurement CSV reader on arbitrary bytes. A bad input must
// end in moeplan::Error; anything else (crash, other exception, leak, UB) is a finding.
#include <cstddef>
#include <cstdint>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/measurements.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::perf::parse_vidur_mlp_csv({reinterpret_cast<const char*>(data), size}, "fuzz.csv");
  } catch (const moeplan::Error&) {
  }
  return 0;
}
