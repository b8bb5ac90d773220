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
  expect_bad("gpu: {mem_bw: 1, mem_capacity: 1, bfloat16_tc_flops: 1}\nnode: {num_gpus_per_node: 2.5, intra_node_bw: 1, inter_node_bw: 1}\n", "node.num_gpus_per_node");
  EXPECT_THROW(load_hardware("no_such_gpu"), moeplan::Error);
}
