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
  // A positive finite number; `required` false returns `dflt` when absent.
  double number(const YAML::Node& sec, const char* sec_name, const char* key, bool required, double dflt = 0) const {
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
    if (!std::isfinite(v) || v < 0) throw_bad_input(file, "", field, fmt::format("{} is not a non-negative number", v));
    return v;
  }
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
  h.mem_bw_bytes_per_s = r.number(gpu, "gpu", "mem_bw", true);
  h.mem_bw_empirical_fraction = r.number(gpu, "gpu", "mem_bw_empirical_scaling_factor", false, 1.0);
  h.mem_op_latency_s = r.number(gpu, "gpu", "mem_empirical_constant_latency", false, 0.0);
  h.mem_capacity_bytes = r.number(gpu, "gpu", "mem_capacity", true);
  h.bf16_flops_per_s = r.number(gpu, "gpu", "bfloat16_tc_flops", true);
  h.fp8_flops_per_s = r.number(gpu, "gpu", "fp8_tc_flops", false);
  h.int8_ops_per_s = r.number(gpu, "gpu", "int8_tc_flops", false);
  h.fp4_flops_per_s = r.number(gpu, "gpu", "fp4_tc_flops", false);
  if (h.mem_bw_bytes_per_s <= 0) throw_bad_input(file, "", "gpu.mem_bw", "must be positive");
  if (h.bf16_flops_per_s <= 0) throw_bad_input(file, "", "gpu.bfloat16_tc_flops", "must be positive");
  if (h.mem_bw_empirical_fraction <= 0 || h.mem_bw_empirical_fraction > 1)
    throw_bad_input(file, "", "gpu.mem_bw_empirical_scaling_factor", "must be in (0, 1]");
  double gpn = r.number(node, "node", "num_gpus_per_node", true);
  if (gpn < 1 || gpn > 1e6 || gpn != std::floor(gpn))
    throw_bad_input(file, "", "node.num_gpus_per_node", "expected a positive integer");
  h.gpus_per_node = static_cast<int>(gpn);
  h.intra_node_bw_bytes_per_s = r.number(node, "node", "intra_node_bw", true);
  h.inter_node_bw_bytes_per_s = r.number(node, "node", "inter_node_bw", true);
  h.p2p_latency_s = r.number(node, "node", "p2p_latency", false, 0.0);
  // AIConfigurator's p2p_latency is an observed per-transfer cost; moeplan charges it once
  // per collective rather than per ring step (NCCL pipelines the steps).
  h.collective_start_latency_s = h.p2p_latency_s;
  if (YAML::Node misc = root["misc"]; misc && misc.IsMap()) {
    h.other_mem_bytes = r.number(misc, "misc", "other_mem", false, 0.0);
    if (YAML::Node nm = misc["nccl_mem"]; nm && nm.IsMap()) {
      for (const auto& kv : nm) {
        try {
          h.nccl_mem_bytes[kv.first.as<int>()] = kv.second.as<double>();
        } catch (const YAML::Exception&) {
          throw_bad_input(file, "", "misc.nccl_mem", "expected GPU count: bytes pairs");
        }
      }
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
