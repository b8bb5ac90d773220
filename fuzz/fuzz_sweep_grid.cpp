// libFuzzer target: the sweep grid YAML parser on arbitrary bytes. Only moeplan::Error may
// escape the parser; anything else (a crash, another exception) is a bug. Accepted grids must
// have a consistent point count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/sweep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::perf::SweepGrid g =
        moeplan::perf::parse_sweep_grid(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    if (g.models.empty() || g.hardware.empty() || (g.batch.empty() && g.concurrency.empty())) std::abort();
  } catch (const moeplan::Error&) {
  }
  return 0;
}
