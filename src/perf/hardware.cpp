// AIConfigurator system YAML -> Hardware, and preset / file lookup.
#include "moeplan/perf/hardware.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"

namespace moeplan::perf {

double Hardware::flops_per_s(DType t) const {
  switch (t) {
    case DType::fp4:
      if (fp4_flops_per_s > 0) return fp4_flops_per_s;
      [[fallthrough]];
    case DType::fp8:
      if (fp8_flops_per_s > 0) return fp8_flops_per_s;
      return bf16_flops_per_s;
    case DType::int8:
    case DType::int4:
      if (int8_ops_per_s > 0) return int8_ops_per_s;
      return bf16_flops_per_s;
    default:
      return bf16_flops_per_s;
  }
}

double Hardware::nccl_mem_for(int gpus) const {
  double v = 0;
  for (const auto& [n, bytes] : nccl_mem_bytes)
    if (n <= gpus) v = bytes;
  return v;
}

namespace {

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
    std::string field = fmt::format("{}.{}", sec_name, key);
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
  // An optional peak: absent or 0 means "not supported"; otherwise in [lo, hi].
  double optional_peak(const YAML::Node& sec, const char* key) const {
    double v = number(sec, "gpu", key, false, 0, kMaxFlops);
    if (v > 0 && v < kMinFlops)
      throw_bad_input(file, "", fmt::format("gpu.{}", key), fmt::format("{} is outside [{:g}, {:g}] (SI units; 0 = not supported)", v, kMinFlops, kMaxFlops));
    return v;
  }
  static constexpr double kMinFlops = 1e9, kMaxFlops = 1e19;  // FLOP/s
  static constexpr double kMinBw = 1e6, kMaxBw = 1e18;        // bytes/s (a wafer's SRAM reaches 1e16)
  static constexpr double kMaxBytes = 1e15;                    // bytes
  static constexpr double kMaxLatency = 1;                     // s
};

}  // namespace

Hardware parse_hardware_yaml(const std::string& text, const std::string& file, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw_bad_input(file, fmt::format("line {}", e.mark.line + 1), "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw_bad_input(file, "", "", "expected a YAML map with gpu, node and misc sections");
  YamlReader r{file};
  YAML::Node gpu = r.section(root, "gpu");
  YAML::Node node = r.section(root, "node");
  Hardware h;
  h.name = name;
  using R = YamlReader;
  h.mem_bw_bytes_per_s = r.number(gpu, "gpu", "mem_bw", true, 1e9, R::kMaxBw);
  h.mem_bw_empirical_fraction = r.number(gpu, "gpu", "mem_bw_empirical_scaling_factor", false, 0.01, 1, 1.0);
  h.mem_op_latency_s = r.number(gpu, "gpu", "mem_empirical_constant_latency", false, 0, R::kMaxLatency, 0.0);
  h.mem_capacity_bytes = r.number(gpu, "gpu", "mem_capacity", true, 1e8, R::kMaxBytes);
  h.bf16_flops_per_s = r.number(gpu, "gpu", "bfloat16_tc_flops", true, R::kMinFlops, R::kMaxFlops);
  h.fp8_flops_per_s = r.optional_peak(gpu, "fp8_tc_flops");
  h.int8_ops_per_s = r.optional_peak(gpu, "int8_tc_flops");
  h.fp4_flops_per_s = r.optional_peak(gpu, "fp4_tc_flops");
  double gpn = r.number(node, "node", "num_gpus_per_node", true, 1, 1e6);
  if (gpn != std::floor(gpn)) throw_bad_input(file, "", "node.num_gpus_per_node", "expected a positive integer");
  h.gpus_per_node = static_cast<int>(gpn);
  h.intra_node_bw_bytes_per_s = r.number(node, "node", "intra_node_bw", true, R::kMinBw, R::kMaxBw);
  h.inter_node_bw_bytes_per_s = r.number(node, "node", "inter_node_bw", true, R::kMinBw, R::kMaxBw);
  h.p2p_latency_s = r.number(node, "node", "p2p_latency", false, 0, R::kMaxLatency, 0.0);
  // AIConfigurator's p2p_latency is an observed per-transfer cost; moeplan charges it once
  // per collective rather than per ring step (NCCL pipelines the steps).
  h.collective_start_latency_s = h.p2p_latency_s;
  YAML::Node misc = root["misc"];
  if (misc && !misc.IsMap()) throw_bad_input(file, "", "misc", "expected a map");
  if (misc) {
    h.other_mem_bytes = r.number(misc, "misc", "other_mem", false, 0, R::kMaxBytes, 0.0);
    if (YAML::Node nm = misc["nccl_mem"]; nm && nm.IsMap()) {
      for (const auto& kv : nm) {
        int gpus = 0;
        double bytes = 0;
        try {
          gpus = kv.first.as<int>();
          bytes = kv.second.as<double>();
        } catch (const YAML::Exception&) {
          throw_bad_input(file, "", "misc.nccl_mem", "expected GPU count: bytes pairs");
        }
        if (gpus < 1 || gpus > 1e6 || !std::isfinite(bytes) || bytes < 0 || bytes > R::kMaxBytes)
          throw_bad_input(file, "", fmt::format("misc.nccl_mem.{}", kv.first.Scalar()),
                          fmt::format("{} GPUs: {} bytes is outside [0, {:g}] (GPU count >= 1)", gpus, bytes, R::kMaxBytes));
        h.nccl_mem_bytes[gpus] = bytes;
      }
    } else if (nm) {
      throw_bad_input(file, "", "misc.nccl_mem", "expected a map GPU count: bytes");
    }
  }
  return h;
}

Hardware load_hardware_file(const std::string& path) {
  std::vector<char> bytes = io::read_file(path);
  return parse_hardware_yaml(std::string(bytes.begin(), bytes.end()), path,
                             std::filesystem::path(path).stem().string());
}

Hardware load_hardware(const std::string& what) {
  for (const Hardware& h : hardware_presets())
    if (h.name == what) return h;
  std::error_code ec;
  if (!std::filesystem::exists(what, ec) && what.find('/') == std::string::npos &&
      what.find(".yaml") == std::string::npos && what.find(".yml") == std::string::npos) {
    std::string names;
    for (const Hardware& h : hardware_presets()) names += (names.empty() ? "" : ", ") + h.name;
    throw_usage("unknown hardware \"" + what + "\" (not a file; presets: " + names + ")");
  }
  return load_hardware_file(what);
}

}  // namespace moeplan::perf
