// libFuzzer target: the calibration YAML reader (`--calibration FILE`) on arbitrary bytes.
// Only moeplan::Error may escape; every accepted entry must give finite predictions on H100.
#include <cstddef>
#include <cstdint>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/calibration.hpp"
#include "perf_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const moeplan::perf::Hardware h100 = moeplan::perf::load_hardware("h100_sxm");
  try {
    moeplan::perf::CalibrationSet set =
        moeplan::perf::parse_calibration_yaml(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    for (std::size_t i = 0; i < set.entries.size() && i < 4; ++i)
      moeplan::fuzz::check_predictions(h100, set.entries[i].efficiency, set.entries[i].serving);
  } catch (const moeplan::Error&) {
  }
  return 0;
}
