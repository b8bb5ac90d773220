// Internal: reading numbers and sections of a system YAML with bounds (shared by the
// AIConfigurator and the moeplan hardware schemas).
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <initializer_list>
#include <map>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/hardware.hpp"

namespace moeplan::perf {

struct YamlReader {
  const std::string& file;

  YAML::Node section(const YAML::Node& root, const char* key) const {
    YAML::Node n = root[key];
    if (!n || !n.IsMap()) throw_bad_input(file, "", key, "missing section (expected a map)");
    return n;
  }
  // A finite number in [lo, hi] (SI units: bytes, bytes/s, FLOP/s, seconds); `required` false
  // returns `dflt` when absent. The bounds are generous on top and catch unit slips below
  // (3350 for a bandwidth in GB/s, 80 for a capacity in GiB), which would otherwise give
  // answers wrong by 1e9 without a word.
  double number(const YAML::Node& sec, const char* sec_name, const char* key, bool required, double lo, double hi,
                double dflt = 0) const {
    YAML::Node n = sec[key];
    const std::string field = *sec_name ? fmt::format("{}.{}", sec_name, key) : std::string(key);
    if (!n) {
      if (required) throw_bad_input(file, "", field, "missing");
      return dflt;
    }
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      throw_bad_input(file, "", field, "expected a number");
    }
    if (!std::isfinite(v) || v < lo || v > hi)
      throw_bad_input(file, "", field, fmt::format("{} is outside [{:g}, {:g}] (SI units)", v, lo, hi));
    return v;
  }
  // An optional peak: absent or 0 means "not supported"; otherwise in [kMinFlops, kMaxFlops].
  double optional_peak(const YAML::Node& sec, const char* sec_name, const char* key) const {
    double v = number(sec, sec_name, key, false, 0, kMaxFlops);
    if (v > 0 && v < kMinFlops)
      throw_bad_input(file, "", fmt::format("{}.{}", sec_name, key),
                      fmt::format("{} is outside [{:g}, {:g}] (SI units; 0 = not supported)", v, kMinFlops, kMaxFlops));
    return v;
  }
  // A map GPUs in a group -> bytes per GPU (NCCL buffers).
  std::map<int, double> group_bytes(const YAML::Node& nm, const std::string& field) const {
    if (!nm.IsMap()) throw_bad_input(file, "", field, "expected a map GPU count: bytes");
    std::map<int, double> out;
    for (const auto& kv : nm) {
      int gpus = 0;
      double bytes = 0;
      try {
        gpus = kv.first.as<int>();
        bytes = kv.second.as<double>();
      } catch (const YAML::Exception&) {
        throw_bad_input(file, "", field, "expected GPU count: bytes pairs");
      }
      if (gpus < 1 || gpus > 1e6 || !std::isfinite(bytes) || bytes < 0 || bytes > kMaxBytes)
        throw_bad_input(file, "", fmt::format("{}.{}", field, kv.first.Scalar()),
                        fmt::format("{} GPUs: {} bytes is outside [0, {:g}] (GPU count >= 1)", gpus, bytes, kMaxBytes));
      out[gpus] = bytes;
    }
    return out;
  }
  // Refuses keys of `node` not in `allowed` (a typo would otherwise be a silently ignored value).
  void only_keys(const YAML::Node& node, std::initializer_list<const char*> allowed, const std::string& prefix) const {
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      bool ok = false;
      for (const char* a : allowed) ok = ok || key == a;
      if (!ok) throw_bad_input(file, "", prefix + key, "unknown key");
    }
  }
  static constexpr double kMinFlops = 1e9, kMaxFlops = 1e19;  // FLOP/s
  static constexpr double kMinBw = 1e6, kMaxBw = 1e18;        // bytes/s (a wafer's SRAM reaches 1e16)
  static constexpr double kMaxBytes = 1e15;                    // bytes
  static constexpr double kMaxLatency = 1;                     // s
};

// moeplan's own schema (`moeplan_hardware: 1`), given the loaded root map.
Hardware parse_moeplan_hardware(const YAML::Node& root, const std::string& file, const std::string& name);

}  // namespace moeplan::perf
