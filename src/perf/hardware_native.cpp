// moeplan's own hardware schema: unit-named keys, a switch or a 2-D mesh (wafer) topology.
// docs/formats.md "Hardware: moeplan schema" lists every key.
#include <cmath>

#include "perf/hardware_yaml.hpp"

namespace moeplan::perf {

Hardware parse_moeplan_hardware(const YAML::Node& root, const std::string& file, const std::string& name) {
  YamlReader r{file};
  using R = YamlReader;
  r.only_keys(root, {"moeplan_hardware", "name", "device", "cluster", "reserved_memory_bytes", "collective_buffer_bytes"}, "");
  if (r.number(root, "", "moeplan_hardware", true, 1, 1) != 1) throw_bad_input(file, "", "moeplan_hardware", "expected 1");
  Hardware h;
  h.name = name;
  if (YAML::Node n = root["name"]) {
    if (!n.IsScalar() || n.Scalar().empty()) throw_bad_input(file, "", "name", "expected a non-empty string");
    h.name = n.Scalar();
  }
  YAML::Node dev = r.section(root, "device");
  r.only_keys(dev, {"memory_bytes", "memory_bandwidth_bytes_per_s", "memory_bandwidth_efficiency", "memory_kernel_latency_s",
                    "flops_per_s", "prefill_clock_fraction"},
              "device.");
  h.mem_capacity_bytes = r.number(dev, "device", "memory_bytes", true, 1e8, R::kMaxBytes);
  h.mem_bw_bytes_per_s = r.number(dev, "device", "memory_bandwidth_bytes_per_s", true, 1e9, R::kMaxBw);
  h.mem_bw_empirical_fraction = r.number(dev, "device", "memory_bandwidth_efficiency", false, 0.01, 1, 1.0);
  h.mem_op_latency_s = r.number(dev, "device", "memory_kernel_latency_s", false, 0, R::kMaxLatency, 0.0);
  h.prefill_clock_fraction = r.number(dev, "device", "prefill_clock_fraction", false, 0.05, 1, 1.0);
  YAML::Node flops = dev["flops_per_s"];
  if (!flops || !flops.IsMap()) throw_bad_input(file, "", "device.flops_per_s", "missing (a map bf16/fp8/int8/fp4 -> FLOP/s)");
  r.only_keys(flops, {"bf16", "fp8", "int8", "fp4"}, "device.flops_per_s.");
  h.bf16_flops_per_s = r.number(flops, "device.flops_per_s", "bf16", true, R::kMinFlops, R::kMaxFlops);
  h.fp8_flops_per_s = r.optional_peak(flops, "device.flops_per_s", "fp8");
  h.int8_ops_per_s = r.optional_peak(flops, "device.flops_per_s", "int8");
  h.fp4_flops_per_s = r.optional_peak(flops, "device.flops_per_s", "fp4");

  YAML::Node cl = r.section(root, "cluster");
  r.only_keys(cl, {"devices_per_node", "topology", "mesh", "intra_node_bandwidth_bytes_per_s", "inter_node_bandwidth_bytes_per_s",
                   "collective_latency_s", "hop_latency_s"},
              "cluster.");
  std::string topology = "switch";
  if (YAML::Node t = cl["topology"]) {
    topology = t.IsScalar() ? t.Scalar() : "";
    if (topology != "switch" && topology != "mesh2d")
      throw_bad_input(file, "", "cluster.topology", "expected switch or mesh2d");
  }
  const double per_node = r.number(cl, "cluster", "devices_per_node", true, 1, 1e6);
  if (per_node != std::floor(per_node)) throw_bad_input(file, "", "cluster.devices_per_node", "expected a positive integer");
  h.gpus_per_node = static_cast<int>(per_node);
  if (topology == "mesh2d") {
    YAML::Node mesh = cl["mesh"];
    if (!mesh || !mesh.IsMap()) throw_bad_input(file, "", "cluster.mesh", "mesh2d needs mesh: {rows, cols}");
    r.only_keys(mesh, {"rows", "cols"}, "cluster.mesh.");
    const double rows = r.number(mesh, "cluster.mesh", "rows", true, 1, 4096);
    const double cols = r.number(mesh, "cluster.mesh", "cols", true, 1, 4096);
    if (rows != std::floor(rows) || cols != std::floor(cols))
      throw_bad_input(file, "", "cluster.mesh", "rows and cols must be integers");
    if (rows * cols != per_node)
      throw_bad_input(file, "", "cluster.mesh",
                      fmt::format("{} x {} dies, but devices_per_node is {}", rows, cols, per_node));
    h.topology = Hardware::Topology::mesh2d;
    h.mesh_rows = static_cast<int>(rows);
    h.mesh_cols = static_cast<int>(cols);
  } else if (cl["mesh"]) {
    throw_bad_input(file, "", "cluster.mesh", "only with topology: mesh2d");
  }
  h.intra_node_bw_bytes_per_s = r.number(cl, "cluster", "intra_node_bandwidth_bytes_per_s", true, R::kMinBw, R::kMaxBw);
  h.inter_node_bw_bytes_per_s = r.number(cl, "cluster", "inter_node_bandwidth_bytes_per_s", true, R::kMinBw, R::kMaxBw);
  h.collective_start_latency_s = r.number(cl, "cluster", "collective_latency_s", false, 0, R::kMaxLatency, 0.0);
  h.p2p_latency_s = h.collective_start_latency_s;
  h.hop_latency_s = r.number(cl, "cluster", "hop_latency_s", false, 0, R::kMaxLatency, 0.0);
  h.other_mem_bytes = r.number(root, "", "reserved_memory_bytes", false, 0, R::kMaxBytes, 0.0);
  if (YAML::Node b = root["collective_buffer_bytes"]) h.nccl_mem_bytes = r.group_bytes(b, "collective_buffer_bytes");
  return h;
}

}  // namespace moeplan::perf
