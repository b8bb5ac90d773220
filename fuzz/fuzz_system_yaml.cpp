// libFuzzer target: the AIConfigurator system YAML reader (`--hardware FILE`) on arbitrary
// bytes. Only moeplan::Error may escape; an accepted system must give finite predictions.
#include <cstddef>
#include <cstdint>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/hardware.hpp"
#include "perf_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    moeplan::perf::Hardware hw =
        moeplan::perf::parse_hardware_yaml(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml", "fuzz");
    moeplan::fuzz::check_predictions(hw, moeplan::perf::Efficiency::defaults(), moeplan::perf::ServingParams{});
  } catch (const moeplan::Error&) {
  }
  return 0;
}
