// libFuzzer target: the .npy reader on arbitrary bytes, and the .phases.json sidecar reader on
// arbitrary text (beside a fixed valid array). A bad input must end in moeplan::Error; anything
// else (crash, other exception, leak, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

namespace {

// A valid [3, 2, 1] uint8 array (format 1.0), so that sidecar fuzzing gets past the array.
std::string valid_npy() {
  std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 1), }\n";
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size());
  out += '\0';
  return out + header + std::string("\x00\x01\x02\x03\x04\x05", 6);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  try {
    moeplan::trace::parse_npy({bytes, size}, "fuzz/1.npy", "fuzz", "");
  } catch (const moeplan::Error&) {
  }
  static const std::string array = valid_npy();
  try {
    moeplan::trace::parse_npy({array.data(), array.size()}, "fuzz/2.npy", "fuzz", std::string(bytes, size));
  } catch (const moeplan::Error&) {
  }
  return 0;
}
