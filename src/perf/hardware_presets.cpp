// Built-in hardware presets. The first 14 repeat AIConfigurator's system YAML numbers
// (github.com/ai-dynamo/aiconfigurator, aic-core/src/aiconfigurator_core/systems/, commit
// 095f58a5; tests/test_perf_hardware.cpp checks them against the files). The others come
// from vendor spec sheets (dense peaks, one-direction link bandwidth per device).
#include "moeplan/perf/hardware.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace moeplan::perf {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// An AIConfigurator system: every file shares the 0.8 bandwidth factor, 3 us memory-op
// latency, 10 us p2p latency (except b60), 3.5 GiB other_mem and the same NCCL buffers.
Hardware aic(const char* name, double mem_bw, double capacity, double bf16, double fp8, double int8,
             double fp4, int gpn, double intra, double inter, double frac = 0.8, double p2p = 1e-5) {
  Hardware h;
  h.name = name;
  h.mem_bw_bytes_per_s = mem_bw;
  h.mem_bw_empirical_fraction = frac;
  h.mem_op_latency_s = 3e-6;
  h.mem_capacity_bytes = capacity;
  h.bf16_flops_per_s = bf16;
  h.fp8_flops_per_s = fp8;
  h.int8_ops_per_s = int8;
  h.fp4_flops_per_s = fp4;
  h.gpus_per_node = gpn;
  h.intra_node_bw_bytes_per_s = intra;
  h.inter_node_bw_bytes_per_s = inter;
  h.p2p_latency_s = p2p;
  h.collective_start_latency_s = p2p;
  h.other_mem_bytes = 3758096384.0;
  h.nccl_mem_bytes = {{1, 0.0}, {2, 358612992.0}, {4, 411041792.0}, {8, 411041792.0}};
  return h;
}

// A device from a spec sheet: no empirical corrections, 10 us per collective.
Hardware spec(const char* name, double mem_bw, double capacity, double bf16, double fp8, double int8,
              int gpn, double intra, double inter) {
  Hardware h = aic(name, mem_bw, capacity, bf16, fp8, int8, 0, gpn, intra, inter, 1.0);
  h.mem_op_latency_s = 0;
  return h;
}

std::vector<Hardware> make_presets() {
  std::vector<Hardware> v = {
      aic("a100_pcie", 1935e9, 85899345920.0, 312e12, 0, 624e12, 0, 8, 32e9, 25e9),
      aic("a100_sxm", 2039e9, 85899345920.0, 312e12, 0, 624e12, 0, 8, 300e9, 25e9),
      aic("a30", 933e9, 25769803776.0, 165e12, 0, 330e12, 0, 8, 32e9, 25e9),
      aic("b200_sxm", 7700e9, 193273528320.0, 2250e12, 4500e12, 4500e12, 9000e12, 8, 900e9, 100e9),
      aic("b300_sxm", 7750e9, 288400343040.0, 2250e12, 4500e12, 153.5e12, 14000e12, 8, 900e9, 100e9),
      aic("b60", 456e9, 25769803776.0, 98.304e12, 98.304e12, 197e12, 0, 8, 28.4e9, 50e9, 0.5, 2e-6),
      aic("gb200", 8000e9, 198674743296.0, 2500e12, 5000e12, 5000e12, 10000e12, 4, 900e9, 900e9),
      aic("gb300", 8000e9, 298013687808.0, 2500e12, 5000e12, 165e12, 15000e12, 4, 900e9, 900e9),
      aic("h100_pcie", 2000e9, 85899345920.0, 756.5e12, 1513e12, 1513e12, 0, 8, 64e9, 50e9),
      aic("h100_sxm", 3350e9, 85899345920.0, 989e12, 1978e12, 1978e12, 0, 8, 450e9, 50e9),
      aic("h200_sxm", 4800e9, 151397597184.0, 989e12, 1978e12, 1978e12, 0, 8, 450e9, 50e9),
      aic("l4", 300e9, 25769803776.0, 121e12, 242e12, 242e12, 0, 8, 32e9, 25e9),
      aic("l40s", 864e9, 48305799168.0, 362.05e12, 733e12, 733e12, 0, 8, 32e9, 50e9),
      aic("rtx_pro_6000_server", 1792e9, 102641958912.0, 467800534963698.0, 935601069927397.0,
          935601069927397.0, 1871202139854795.0, 8, 64e9, 50e9),
      // AMD Instinct MI300X / MI325X: 7 Infinity Fabric links x 64 GB/s, one 400 Gb/s NIC per GPU.
      spec("mi300x", 5.3e12, 192e9, 1307.4e12, 2614.9e12, 2614.9e12, 8, 448e9, 50e9),
      spec("mi325x", 6.0e12, 256e9, 1307.4e12, 2614.9e12, 2614.9e12, 8, 448e9, 50e9),
      // Google TPU v5p: 95 GB HBM2e at 2.765 TB/s, ICI 4800 Gb/s per chip (torus: no node edge).
      spec("tpu_v5p", 2.765e12, 95e9, 459e12, 0, 918e12, 4, 300e9, 300e9),
      // Intel Gaudi 3: 128 GB HBM2e at 3.7 TB/s, 21 of 24 x 200 GbE ports inside the node.
      spec("gaudi3", 3.7e12, 128e9, 1835e12, 1835e12, 1835e12, 8, 525e9, 75e9),
  };
  // A DGX-H100 power-capped to 70% of its TDP, as in Splitwise (ISCA 2024; splitwise-sim's
  // dgx-h100-pcap: 7140 W vs 10200 W): prompts 1.3x slower, token generation unchanged.
  Hardware cap = *std::find_if(v.begin(), v.end(), [](const Hardware& h) { return h.name == "h100_sxm"; });
  cap.name = "h100_sxm_pcap70";
  cap.prefill_clock_fraction = 1 / 1.3;
  v.push_back(cap);
  // GenZ's H100_GPU preset with GenZ's unit rules (oracles/genz/README.md): TFLOP/s in SI,
  // GB/s and GB in binary units, 5 us per collective plus 1 us per ring step, no reserves.
  Hardware g;
  g.name = "genz_h100";
  g.bf16_flops_per_s = 989e12;
  g.fp8_flops_per_s = 2 * 989e12;
  g.int8_ops_per_s = 2 * 989e12;
  g.mem_bw_bytes_per_s = 3400 * kGiB;
  g.mem_capacity_bytes = 80 * kGiB;
  g.gpus_per_node = 1 << 20;  // GenZ has one flat interconnect
  g.intra_node_bw_bytes_per_s = 450 * kGiB;
  g.inter_node_bw_bytes_per_s = 450 * kGiB;
  g.collective_start_latency_s = 5e-6;
  g.hop_latency_s = 1e-6;
  g.p2p_latency_s = 1e-6;
  v.push_back(g);
  // An illustrative wafer (the kind of platform of Paper C's case study; the numbers are
  // moeplan's assumption, not a product): 36 H100-class dies (80 GB HBM at 3.35 TB/s each) in
  // a 6 x 6 mesh of 1.5 TB/s die-to-die links each way, 50 ns per hop, 2 us collective start,
  // 50 GB/s per die off the wafer. Same numbers as examples/hardware/wafer-mesh-6x6.yaml.
  Hardware w;
  w.name = "wafer_mesh_6x6";
  w.bf16_flops_per_s = 989e12;
  w.fp8_flops_per_s = 1979e12;
  w.int8_ops_per_s = 1979e12;
  w.mem_bw_bytes_per_s = 3.35e12;
  w.mem_bw_empirical_fraction = 0.8;
  w.mem_capacity_bytes = 80e9;
  w.gpus_per_node = 36;
  w.topology = Hardware::Topology::mesh2d;
  w.mesh_rows = 6;
  w.mesh_cols = 6;
  w.intra_node_bw_bytes_per_s = 1.5e12;
  w.inter_node_bw_bytes_per_s = 50e9;
  w.collective_start_latency_s = 2e-6;
  w.p2p_latency_s = 2e-6;
  w.hop_latency_s = 50e-9;
  w.other_mem_bytes = 2e9;
  v.push_back(w);
  return v;
}

}  // namespace

std::span<const Hardware> hardware_presets() {
  static const std::vector<Hardware> presets = make_presets();
  return presets;
}

}  // namespace moeplan::perf
