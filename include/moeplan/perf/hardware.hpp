// moeplan::perf — one accelerator and its cluster links.
// Owns: the Hardware description (SI units, named in every field), the AIConfigurator system
// YAML reader and the built-in presets.
#pragma once

#include <map>
#include <span>
#include <string>

#include "moeplan/perf/dtype.hpp"

namespace moeplan::perf {

struct Hardware {
  std::string name;
  // Dense tensor-core peaks; 0 where the format is not supported (falls back to the next
  // wider supported format, as AIConfigurator does).
  double bf16_flops_per_s = 0;
  double fp8_flops_per_s = 0;
  double int8_ops_per_s = 0;
  double fp4_flops_per_s = 0;
  double mem_bw_bytes_per_s = 0;
  double mem_bw_empirical_fraction = 1;   // achievable share of mem_bw (AIConfigurator's 0.8)
  double mem_op_latency_s = 0;            // fixed cost per memory-bound kernel
  double mem_capacity_bytes = 0;
  int gpus_per_node = 8;
  double intra_node_bw_bytes_per_s = 0;   // per GPU, one direction
  double inter_node_bw_bytes_per_s = 0;   // per GPU, one direction
  double p2p_latency_s = 0;               // one point-to-point transfer (PP hand-off)
  double collective_start_latency_s = 0;  // fixed start of each collective
  double hop_latency_s = 0;               // added per ring step of a collective
  double other_mem_bytes = 0;             // runtime reserve per GPU
  std::map<int, double> nccl_mem_bytes;   // GPUs in the group -> NCCL buffers per GPU
  // How the devices of one node connect: a switch (every pair at intra_node_bw), or a 2-D mesh
  // of mesh_rows x mesh_cols dies (a wafer) whose neighbour links carry intra_node_bw each way.
  enum class Topology { switched, mesh2d };
  Topology topology = Topology::switched;
  int mesh_rows = 0, mesh_cols = 0;
  // A power-capped device throttles its clock while it draws more than the cap: prompt work
  // (compute-heavy steps) runs at this share of the uncapped speed, decode steps stay under
  // the cap and run at full speed. 1 = no cap (docs/perf-model.md "Power cap").
  double prefill_clock_fraction = 1;

  // Peak for computing in `t` (bf16 for 16/32-bit formats; fp4 falls back to fp8, then bf16).
  double flops_per_s(DType t) const;
  double nccl_mem_for(int gpus) const;
};

// Reads a system YAML: AIConfigurator's schema (gpu / node / misc sections, plain SI numbers),
// or moeplan's own (`moeplan_hardware: 1`, unit-named keys, switch or 2-D mesh topology;
// docs/formats.md). `name` becomes Hardware::name unless the file names itself. Throws
// Error{bad_input} naming the key when one is missing, unknown or out of range.
Hardware parse_hardware_yaml(const std::string& text, const std::string& file, const std::string& name);
Hardware load_hardware_file(const std::string& path);

// Built-in presets: the 14 AIConfigurator systems (same names and numbers), plus mi300x,
// mi325x, tpu_v5p, gaudi3, h100_sxm_pcap70 (an H100 power-capped to 70% of its TDP, as in
// Splitwise), genz_h100 (GenZ's H100_GPU preset with GenZ's unit rules) and wafer_mesh_6x6 (a wafer of 36 H100-class dies in a 2-D mesh; docs/perf-model.md).
std::span<const Hardware> hardware_presets();

// A preset name or a YAML path. Unknown names that are not files: Error{usage} listing presets.
Hardware load_hardware(const std::string& what);

}  // namespace moeplan::perf
