// libFuzzer target: the .npz reader (zip container, deflate, the .npy members) on arbitrary
// bytes. A bad input must end in moeplan::Error; anything else (crash, other exception, leak,
// UB, a huge allocation) is a finding.
#include <cstddef>
#include <cstdint>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::trace::parse_npz({reinterpret_cast<const char*>(data), size}, "fuzz/1.npz", "fuzz", "");
  } catch (const moeplan::Error&) {
  }
  return 0;
}
