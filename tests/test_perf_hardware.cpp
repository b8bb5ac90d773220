// Hardware: every AIConfigurator system YAML parses, each same-named preset repeats its
// numbers, and bad YAML is refused naming the key.
#include <gtest/gtest.h>

#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/hardware.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;
namespace fs = std::filesystem;

TEST(PerfHardware, AIConfiguratorFilesMatchPresets) {
  MOEPLAN_REQUIRE_SHARED("data/systems/aiconfigurator");
  int n = 0;
  for (const auto& ent : fs::directory_iterator(moeplan::testing::shared_dir() / "data/systems/aiconfigurator")) {
    if (ent.path().extension() != ".yaml") continue;
    ++n;
    SCOPED_TRACE(ent.path().filename().string());
    Hardware f = load_hardware_file(ent.path().string());
    Hardware p = load_hardware(f.name);
    EXPECT_EQ(p.name, f.name);
    EXPECT_DOUBLE_EQ(p.mem_bw_bytes_per_s, f.mem_bw_bytes_per_s);
    EXPECT_DOUBLE_EQ(p.mem_bw_empirical_fraction, f.mem_bw_empirical_fraction);
    EXPECT_DOUBLE_EQ(p.mem_op_latency_s, f.mem_op_latency_s);
    EXPECT_DOUBLE_EQ(p.mem_capacity_bytes, f.mem_capacity_bytes);
    EXPECT_DOUBLE_EQ(p.bf16_flops_per_s, f.bf16_flops_per_s);
    EXPECT_DOUBLE_EQ(p.fp8_flops_per_s, f.fp8_flops_per_s);
    EXPECT_DOUBLE_EQ(p.int8_ops_per_s, f.int8_ops_per_s);
    EXPECT_DOUBLE_EQ(p.fp4_flops_per_s, f.fp4_flops_per_s);
    EXPECT_EQ(p.gpus_per_node, f.gpus_per_node);
    EXPECT_DOUBLE_EQ(p.intra_node_bw_bytes_per_s, f.intra_node_bw_bytes_per_s);
    EXPECT_DOUBLE_EQ(p.inter_node_bw_bytes_per_s, f.inter_node_bw_bytes_per_s);
    EXPECT_DOUBLE_EQ(p.p2p_latency_s, f.p2p_latency_s);
    EXPECT_DOUBLE_EQ(p.other_mem_bytes, f.other_mem_bytes);
    EXPECT_DOUBLE_EQ(p.nccl_mem_for(8), f.nccl_mem_for(8));
  }
  EXPECT_EQ(n, 14);
}

TEST(PerfHardware, FormatFallbacks) {
  Hardware a100 = load_hardware("a100_sxm");
  EXPECT_DOUBLE_EQ(a100.flops_per_s(DType::fp8), 312e12);  // no fp8 on Ampere
  Hardware b200 = load_hardware("b200_sxm");
  EXPECT_DOUBLE_EQ(b200.flops_per_s(DType::fp4), 9000e12);
  Hardware h100 = load_hardware("h100_sxm");
  EXPECT_DOUBLE_EQ(h100.flops_per_s(DType::fp4), 1978e12);  // fp4 -> fp8 on Hopper
  EXPECT_DOUBLE_EQ(h100.nccl_mem_for(16), 411041792.0);
  Hardware g = load_hardware("genz_h100");
  EXPECT_DOUBLE_EQ(g.mem_bw_bytes_per_s, 3400.0 * 1073741824.0);  // GenZ: GB/s is binary
}

TEST(PerfHardware, BadYamlNamesTheKey) {
  moeplan::testing::TempDir dir;
  auto expect_bad = [&](const std::string& text, const std::string& field) {
    std::string path = dir.file("x.yaml");
    moeplan::testing::write_text(path, text);
    try {
      load_hardware_file(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
      EXPECT_EQ(e.where().field, field) << e.what();
    }
  };
  expect_bad("gpu: {mem_capacity: 1, bfloat16_tc_flops: 1}\nnode: {num_gpus_per_node: 8, intra_node_bw: 1, inter_node_bw: 1}\n", "gpu.mem_bw");
  expect_bad("gpu: {mem_bw: fast, mem_capacity: 1, bfloat16_tc_flops: 1}\nnode: {}\n", "gpu.mem_bw");
  expect_bad("gpu: {mem_bw: 1, mem_capacity: 1, bfloat16_tc_flops: 1}\n", "node");
  const std::string gpu = "gpu: {mem_bw: 3.35e12, mem_capacity: 8.6e10, bfloat16_tc_flops: 9.89e14}\n";
  expect_bad(gpu + "node: {num_gpus_per_node: 2.5, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\n", "node.num_gpus_per_node");
  // Unit slips: a bandwidth in GB/s, a capacity in GiB, a peak in TFLOPS.
  expect_bad("gpu: {mem_bw: 3350, mem_capacity: 8.6e10, bfloat16_tc_flops: 9.89e14}\nnode: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\n", "gpu.mem_bw");
  expect_bad("gpu: {mem_bw: 3.35e12, mem_capacity: 80, bfloat16_tc_flops: 9.89e14}\nnode: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\n", "gpu.mem_capacity");
  expect_bad("gpu: {mem_bw: 3.35e12, mem_capacity: 8.6e10, bfloat16_tc_flops: 9.89e14, fp8_tc_flops: 1979}\nnode: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\n", "gpu.fp8_tc_flops");
  expect_bad(gpu + "node: {num_gpus_per_node: 8, intra_node_bw: 0, inter_node_bw: 5e10}\n", "node.intra_node_bw");
  expect_bad(gpu + "node: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\nmisc: {nccl_mem: {2: -1}}\n", "misc.nccl_mem.2");
  expect_bad(gpu + "node: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\nmisc: [1]\n", "misc");
  // 0 for an optional peak means "not supported": the format falls back to bf16.
  std::string ok = dir.file("ok.yaml");
  moeplan::testing::write_text(ok, "gpu: {mem_bw: 3.35e12, mem_capacity: 8.6e10, bfloat16_tc_flops: 9.89e14, fp8_tc_flops: 0}\n"
                                  "node: {num_gpus_per_node: 8, intra_node_bw: 4.5e11, inter_node_bw: 5e10}\n");
  EXPECT_DOUBLE_EQ(load_hardware_file(ok).flops_per_s(DType::fp8), 9.89e14);
  EXPECT_THROW(load_hardware("no_such_gpu"), moeplan::Error);
}

// The documented example (examples/hardware/, docs/formats.md) loads with its numbers in SI
// units, named by its file stem.
TEST(PerfHardware, ExampleSystemFileLoads) {
  Hardware h = load_hardware((moeplan::testing::source_dir() / "examples/hardware/h100-sxm-4gpu-nodes.yaml").string());
  EXPECT_EQ(h.name, "h100-sxm-4gpu-nodes");
  EXPECT_EQ(h.gpus_per_node, 4);
  EXPECT_DOUBLE_EQ(h.mem_bw_bytes_per_s, 3.35e12);
  EXPECT_DOUBLE_EQ(h.inter_node_bw_bytes_per_s, 12.5e9);  // 400 Gb/s = 50 GB/s per node, over 4 GPUs
  EXPECT_DOUBLE_EQ(h.fp8_flops_per_s, 1978e12);
  EXPECT_DOUBLE_EQ(h.nccl_mem_for(4), 411041792.0);
  EXPECT_DOUBLE_EQ(h.nccl_mem_for(8), 411041792.0);  // the largest listed group at or below 8
  EXPECT_DOUBLE_EQ(h.collective_start_latency_s, 1e-5);
}

// moeplan's own schema: the wafer example file is the wafer_mesh_6x6 preset, field by field.
TEST(PerfHardware, NativeSchemaWaferMatchesPreset) {
  const Hardware f = load_hardware((moeplan::testing::source_dir() / "examples/hardware/wafer-mesh-6x6.yaml").string());
  const Hardware p = load_hardware("wafer_mesh_6x6");
  EXPECT_EQ(f.name, "wafer_mesh_6x6");
  EXPECT_EQ(f.topology, Hardware::Topology::mesh2d);
  EXPECT_EQ(p.topology, Hardware::Topology::mesh2d);
  EXPECT_EQ(f.mesh_rows, 6);
  EXPECT_EQ(f.mesh_cols, p.mesh_cols);
  EXPECT_EQ(f.gpus_per_node, 36);
  EXPECT_EQ(f.gpus_per_node, p.gpus_per_node);
  for (auto m : {&Hardware::bf16_flops_per_s, &Hardware::fp8_flops_per_s, &Hardware::int8_ops_per_s, &Hardware::fp4_flops_per_s,
                 &Hardware::mem_bw_bytes_per_s, &Hardware::mem_bw_empirical_fraction, &Hardware::mem_op_latency_s,
                 &Hardware::mem_capacity_bytes, &Hardware::intra_node_bw_bytes_per_s, &Hardware::inter_node_bw_bytes_per_s,
                 &Hardware::p2p_latency_s, &Hardware::collective_start_latency_s, &Hardware::hop_latency_s,
                 &Hardware::other_mem_bytes})
    EXPECT_DOUBLE_EQ(f.*m, p.*m);
}

TEST(PerfHardware, NativeSchemaSwitchAndErrors) {
  moeplan::testing::TempDir dir;
  const std::string path = dir.file("n.yaml");
  const std::string dev = "device: {memory_bytes: 8e10, memory_bandwidth_bytes_per_s: 3e12, flops_per_s: {bf16: 1e15}}\n";
  moeplan::testing::write_text(path, "moeplan_hardware: 1\n" + dev +
                                         "cluster: {devices_per_node: 4, intra_node_bandwidth_bytes_per_s: 4e11, "
                                         "inter_node_bandwidth_bytes_per_s: 2.5e10, hop_latency_s: 1e-6}\n"
                                         "collective_buffer_bytes: {4: 1e8}\n");
  const Hardware h = load_hardware_file(path);
  EXPECT_EQ(h.name, "n");  // the file stem when the file does not name itself
  EXPECT_EQ(h.topology, Hardware::Topology::switched);
  EXPECT_EQ(h.gpus_per_node, 4);
  EXPECT_DOUBLE_EQ(h.mem_bw_empirical_fraction, 1.0);
  EXPECT_DOUBLE_EQ(h.flops_per_s(DType::fp8), 1e15);  // no fp8 peak: bf16
  EXPECT_DOUBLE_EQ(h.hop_latency_s, 1e-6);
  EXPECT_DOUBLE_EQ(h.nccl_mem_for(8), 1e8);
  EXPECT_DOUBLE_EQ(h.prefill_clock_fraction, 1.0);  // no power cap unless the file says so
  auto field_of = [&](const std::string& text) {
    moeplan::testing::write_text(path, text);
    try {
      load_hardware_file(path);
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
      return e.where().field;
    }
    return std::string("(accepted)");
  };
  const std::string cl = "cluster: {devices_per_node: 4, intra_node_bandwidth_bytes_per_s: 4e11, inter_node_bandwidth_bytes_per_s: 2.5e10}\n";
  EXPECT_EQ(field_of("moeplan_hardware: 2\n" + dev + cl), "moeplan_hardware");
  EXPECT_EQ(field_of("moeplan_hardware: 1\n" + dev + cl + "memory: 1\n"), "memory");
  EXPECT_EQ(field_of("moeplan_hardware: 1\ndevice: {memory_bytes: 8e10, memory_bandwidth_bytes_per_s: 3e12}\n" + cl),
            "device.flops_per_s");
  EXPECT_EQ(field_of("moeplan_hardware: 1\n" + dev +
                     "cluster: {devices_per_node: 4, topology: mesh2d, mesh: {rows: 3, cols: 2}, "
                     "intra_node_bandwidth_bytes_per_s: 4e11, inter_node_bandwidth_bytes_per_s: 2.5e10}\n"),
            "cluster.mesh");
  EXPECT_EQ(field_of("moeplan_hardware: 1\n" + dev +
                     "cluster: {devices_per_node: 4, topology: torus, intra_node_bandwidth_bytes_per_s: 4e11, "
                     "inter_node_bandwidth_bytes_per_s: 2.5e10}\n"),
            "cluster.topology");
  EXPECT_EQ(field_of("moeplan_hardware: 1\n" + dev +
                     "cluster: {devices_per_node: 4, intra_node_bandwidth_bytes_per_s: 400, inter_node_bandwidth_bytes_per_s: 2.5e10}\n"),
            "cluster.intra_node_bandwidth_bytes_per_s");
  const std::string capped = "device: {memory_bytes: 8e10, memory_bandwidth_bytes_per_s: 3e12, prefill_clock_fraction: ";
  EXPECT_EQ(field_of("moeplan_hardware: 1\n" + capped + "1.3, flops_per_s: {bf16: 1e15}}\n" + cl),
            "device.prefill_clock_fraction");
  moeplan::testing::write_text(path, "moeplan_hardware: 1\n" + capped + "0.5, flops_per_s: {bf16: 1e15}}\n" + cl);
  EXPECT_DOUBLE_EQ(load_hardware_file(path).prefill_clock_fraction, 0.5);
}
