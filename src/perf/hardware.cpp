// AIConfigurator system YAML -> Hardware, and preset / file lookup.
#include "moeplan/perf/hardware.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "perf/hardware_yaml.hpp"

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

Hardware parse_hardware_yaml(const std::string& text, const std::string& file, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw_bad_input(file, fmt::format("line {}", e.mark.line + 1), "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw_bad_input(file, "", "", "expected a YAML map with gpu, node and misc sections");
  if (root["moeplan_hardware"]) return parse_moeplan_hardware(root, file, name);
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
  h.fp8_flops_per_s = r.optional_peak(gpu, "gpu", "fp8_tc_flops");
  h.int8_ops_per_s = r.optional_peak(gpu, "gpu", "int8_tc_flops");
  h.fp4_flops_per_s = r.optional_peak(gpu, "gpu", "fp4_tc_flops");
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
    if (YAML::Node nm = misc["nccl_mem"]) h.nccl_mem_bytes = r.group_bytes(nm, "misc.nccl_mem");
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
