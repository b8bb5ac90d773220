// libFuzzer target: the Paper C JSON parser on arbitrary bytes. A bad input must end in
// moeplan::Error; anything else (crash, other exception, leak, UB) is a finding.
#include <cstddef>
#include <cstdint>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::trace::parse_paper_c_json({reinterpret_cast<const char*>(data), size}, "fuzz/1.json", "fuzz");
  } catch (const moeplan::Error&) {
  }
  return 0;
}
