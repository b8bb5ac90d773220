// Hand calculations of each pricing formula.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/roofline.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

// A request for `m` on `hw`, every other field at its default.
EstimateRequest request_for(const ModelSpec& m, const Hardware& hw) {
  EstimateRequest r;
  r.model = &m;
  r.hardware = &hw;
  return r;
}

}  // namespace

TEST(PerfFormulas, Collectives) {
  // Ring all-reduce of 8 MiB over 8 GPUs at 100 GB/s, 5 us start, 1 us per step:
  // 5e-6 + 14e-6 + 2*7/8 * 8388608 / 1e11 = 19e-6 + 146.8e-6 = 165.8e-6 s.
  EXPECT_NEAR(all_reduce_s(8388608, 8, 1e11, 5e-6, 1e-6), 19e-6 + 1.75 * 8388608 / 1e11, 1e-12);
  // All-gather / all-to-all: half the steps and data: 5e-6 + 7e-6 + 7/8 * bytes / bw.
  EXPECT_NEAR(all_gather_s(8388608, 8, 1e11, 5e-6, 1e-6), 12e-6 + 0.875 * 8388608 / 1e11, 1e-12);
  EXPECT_NEAR(all_to_all_s(1e6, 2, 1e11, 0, 0), 0.5 * 1e6 / 1e11, 1e-15);
  EXPECT_EQ(all_reduce_s(1e9, 1, 1e11, 5e-6, 1e-6), 0.0);
  // Tree all-reduce: 2 ceil(log2 n) steps, the whole message twice: over 8 GPUs
  // 5e-6 + 6e-6 + 2 * bytes / bw; over 6 GPUs ceil(log2 6) = 3 too.
  EXPECT_NEAR(tree_all_reduce_s(8388608, 8, 1e11, 5e-6, 1e-6), 11e-6 + 2 * 8388608 / 1e11, 1e-12);
  EXPECT_NEAR(tree_all_reduce_s(1024, 6, 1e11, 0, 1e-6), 6e-6 + 2048 / 1e11, 1e-15);
  EXPECT_EQ(tree_all_reduce_s(1e9, 1, 1e11, 5e-6, 1e-6), 0.0);
}

// The step's all-reduces by algorithm: Llama-3.1-8B decode at TP 16 on GenZ's flat H100
// (5 us start, 1 us per step): 32 layers x 2 all-reduces of 4 x 4096 x 2 B = 32 KiB, and the
// embedding's. A ring pays 30 steps, a tree 8; "best" takes the cheaper per message.
TEST(PerfFormulas, AllReduceAlgorithms) {
  ModelSpec m = load_model("llama-3.1-8b");
  Hardware hw = load_hardware("genz_h100");
  EstimateRequest r = request_for(m, hw);
  r.parallel.tp = 16;
  r.efficiency = Efficiency::genz();
  const StepSegment dec{4, 1, 100};
  auto comm = [&](Efficiency::AllReduce a) {
    EstimateRequest q = r;
    q.efficiency.all_reduce = a;
    return step_cost(q, std::span<const StepSegment>(&dec, 1)).part_s[static_cast<int>(Part::comm)];
  };
  const double bw = 450.0 * 1073741824.0, bytes = 4 * 4096 * 2.0;
  const double ring = all_reduce_s(bytes, 16, bw, 5e-6, 1e-6), tree = tree_all_reduce_s(bytes, 16, bw, 5e-6, 1e-6);
  ASSERT_LT(tree, ring);
  const double n_ar = 32 * 2;  // GenZ mode prices no embedding all-reduce in decode
  EXPECT_NEAR(comm(Efficiency::AllReduce::tree) - comm(Efficiency::AllReduce::ring), n_ar * (tree - ring), 1e-12);
  EXPECT_DOUBLE_EQ(comm(Efficiency::AllReduce::best), comm(Efficiency::AllReduce::tree));
}

TEST(PerfFormulas, ExpectedDistinctExperts) {
  // One token touches exactly k experts; E(1-(1-k/E)^T) for E=8, k=2, T=8:
  // 8 * (1 - 0.75^8) = 8 * (1 - 0.100113) = 7.19910.
  EXPECT_NEAR(expected_distinct_experts(8, 2, 1), 2.0, 1e-12);
  EXPECT_NEAR(expected_distinct_experts(8, 2, 8), 7.19910, 1e-5);
  EXPECT_NEAR(expected_distinct_experts(256, 8, 1e6), 256.0, 1e-9);
}

TEST(PerfFormulas, AttendedKeys) {
  // Causal prefill of 4 tokens: 1+2+3+4 = 10 keys; without the mask 4*4 = 16.
  EXPECT_DOUBLE_EQ(attended_keys(0, 4, 0, true), 10);
  EXPECT_DOUBLE_EQ(attended_keys(0, 4, 0, false), 16);
  // Decode after 99 cached tokens: 100 keys; with a 64-token window: 64.
  EXPECT_DOUBLE_EQ(attended_keys(99, 1, 0, true), 100);
  EXPECT_DOUBLE_EQ(attended_keys(99, 1, 64, true), 64);
  // Window 3 over 5 new tokens: min(i,3) for i=1..5 = 1+2+3+3+3 = 12.
  EXPECT_DOUBLE_EQ(attended_keys(0, 5, 3, true), 12);
}

TEST(PerfFormulas, GemmRoofline) {
  Device d{1e15, 1e12, 0, 0};
  // 4096x4096x4096 GEMM, bf16: 2*4096^3 = 1.374e11 FLOP -> 137.4 us compute; bytes
  // 3 * 4096^2 * 2 = 100.7 MB -> 100.7 us: compute-bound.
  OpCost big = gemm_cost(d, 4096, 4096, 4096, 2, 2, 1.0);
  EXPECT_NEAR(big.time_s, 2.0 * 4096 * 4096 * 4096 / 1e15, 1e-12);
  // One token: 2*4096^2 FLOP (33.6 ns) vs weights 33.5 MB (33.6 us): memory-bound.
  OpCost one = gemm_cost(d, 1, 4096, 4096, 2, 2, 1.0);
  EXPECT_NEAR(one.time_s, (4096.0 * 4096 * 2 + 2 * 4096 * 2) / 1e12, 1e-15);
}

// GEMM efficiency ramp: e(M) = eff x M / (M + gemm_m_half). With a 100-row half point, a
// 100-row GEMM runs at half the efficiency; a grouped GEMM's ramp sees all its rows.
TEST(PerfFormulas, GemmEfficiencyRamp) {
  Device d{1e15, 1e12, 0, 0, 100};
  // 100 x 8192 x 8192 at 0.8: 2*100*8192^2 = 1.342e10 FLOP / (1e15 x 0.8 x 0.5) = 33.55 us;
  // bytes 8192^2*2 + 100*16384*2 = 137.5 MB -> 137.5 us: still memory-bound.
  OpCost g = gemm_cost(d, 100, 8192, 8192, 2, 2, 0.8);
  EXPECT_NEAR(g.time_s, (8192.0 * 8192 * 2 + 100.0 * 16384 * 2) / 1e12, 1e-12);
  // 4000 rows: 2*4000*8192^2 / (1e15 x 0.8 x 4000/4100) = 687.2 us (compute-bound).
  OpCost big = gemm_cost(d, 4000, 8192, 8192, 2, 2, 0.8);
  EXPECT_NEAR(big.time_s, 2.0 * 4000 * 8192 * 8192 / (1e15 * 0.8 * 4000 / 4100), 1e-12);
  // Grouped: 8 experts of 500 rows (4000 in all) of 4096 x 1024 each, fp8 weights:
  // 2*4000*4096*1024 = 3.355e10 FLOP / (1e15 x 0.8 x 4000/4100) = 42.99 us vs bytes
  // 8 x 4096*1024 + 4000 x 5120 x 2 = 74.5 MB -> 74.5 us: memory-bound.
  OpCost grp = grouped_gemm_cost(d, 4000, 8, 4096, 1024, 1, 2, 0.8);
  EXPECT_NEAR(grp.time_s, (8.0 * 4096 * 1024 + 4000.0 * 5120 * 2) / 1e12, 1e-12);
  EXPECT_NEAR(grp.flops, 2.0 * 4000 * 4096 * 1024, 1);
  Device fast{1e15, 1e14, 0, 0, 100};
  EXPECT_NEAR(grouped_gemm_cost(fast, 4000, 8, 4096, 1024, 1, 2, 0.8).time_s, 2.0 * 4000 * 4096 * 1024 / (1e15 * 0.8 * 4000 / 4100), 1e-12);
  // No ramp (GenZ mode, gemm_m_half 0): the plain roofline.
  Device flat{1e15, 1e12, 0, 0, 0};
  EXPECT_NEAR(gemm_cost(flat, 4000, 8192, 8192, 2, 2, 0.8).time_s, 2.0 * 4000 * 8192 * 8192 / (1e15 * 0.8), 1e-12);
}

// GenZ's example from its README: Llama-3.1-8B TP1 batch 1 input 1024 on H100_GPU.
// Prefill = 32 layers x 1024 tokens x 2 x 218.1M MACs / 989e12 (14.45 ms) + attention
// 32 x 2 x 2 x 32 x 1024^2 x 128 / 989e12 (0.556 ms, unmasked) + two vocab GEMMs
// 2 x 2 x 1024 x 4096 x 128256 / 989e12 (2.176 ms) = 17.18 ms.
// Decode step = weights 32 x 436.2 MB / (3400 x 2^30 B/s) (3.824 ms) + KV 32 x 1280 x 2 x
// 1024 x 2 B (0.046 ms) + LM head 1.05 GB (0.288 ms) = 4.16 ms.
TEST(PerfFormulas, GenzExampleByHand) {
  ModelSpec m = load_model("llama-3.1-8b");
  Hardware hw = load_hardware("genz_h100");
  EstimateRequest r = request_for(m, hw);
  r.efficiency = Efficiency::genz();
  Estimate e = estimate(r);
  EXPECT_NEAR(e.prefill.time_s * 1e3, 17.18, 0.01);
  EXPECT_NEAR(e.decode.time_s * 1e3, 4.16, 0.01);
  EXPECT_NEAR(e.prefill.part_s[static_cast<int>(Part::attn_core)] * 1e3, 0.556, 0.001);
}

TEST(PerfFormulas, MemoryErrorListsComponents) {
  ModelSpec m = load_model("deepseek-v3");
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request_for(m, hw);
  r.parallel.tp = 1;
  try {
    estimate(r);
    FAIL();
  } catch (const moeplan::Error& err) {
    EXPECT_EQ(err.kind(), moeplan::ErrorKind::infeasible);
    std::string s = err.what();
    for (const char* part : {"weights", "KV cache", "activations", "reserved", "per GPU"})
      EXPECT_NE(s.find(part), std::string::npos) << s;
  }
  // DeepSeek-V3 in fp8 on 8 x H200 with EP 8 fits (671 GB / 8 = 84 GB of 141 GB).
  Hardware h200 = load_hardware("h200_sxm");
  r.hardware = &h200;
  r.parallel = Parallel{8, 1, 8, 1};
  Estimate e = estimate(r);
  EXPECT_GT(e.tpot_s, 0);
  EXPECT_NEAR(e.memory.weights_bytes_per_gpu / 1e9, 671.0 / 8 + 1.0, 3.0);
  // MLA KV cache: 61 layers x 576 elements x 2 B per token (replicated over TP).
  EXPECT_NEAR(e.memory.kv_cache_bytes_per_gpu, 61.0 * 576 * 2 * (1024 + 256), 1.0);
}

// The room left beside the weights: Llama-3.1-70B on 4 x H100 keeps 80 layers x 2 (K, V) x
// 2 KV heads per GPU x 128 x 2 B = 80 KiB of cache per token; the largest batch fits and one
// more sequence per rank does not.
TEST(PerfFormulas, MemoryRoomByHand) {
  ModelSpec m = load_model("llama-3.1-70b");
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request_for(m, hw);
  r.parallel = Parallel{4, 1, 1, 2};
  r.workload = Workload{2, 1024, 256};
  const MemoryUse one = memory_use(r);  // one sequence per dp rank
  EXPECT_NEAR(one.kv_cache_bytes_per_gpu, 80.0 * 2 * 2 * 128 * 2 * 1280, 1.0);
  const double free = one.capacity_bytes_per_gpu - one.weights_bytes_per_gpu - one.reserved_bytes_per_gpu -
                      one.activations_bytes_per_gpu;
  const MemoryRoom room = memory_room(r);
  EXPECT_DOUBLE_EQ(room.max_kv_tokens, std::floor(free / 81920.0) * 2);
  ASSERT_GT(room.max_batch, 2);
  EXPECT_EQ(room.max_batch % 2, 0);
  EstimateRequest q = r;
  q.workload.batch = room.max_batch;
  EXPECT_TRUE(memory_use(q).fits());
  q.workload.batch = room.max_batch + 2;
  EXPECT_FALSE(memory_use(q).fits());
  // The batch's KV cache is at most the room's tokens.
  EXPECT_LE(static_cast<double>(room.max_batch) * 1280, room.max_kv_tokens);
  // Too large a batch: the error names the largest that fits.
  r.workload.batch = room.max_batch + 2;
  try {
    estimate(r);
    FAIL();
  } catch (const moeplan::Error& err) {
    EXPECT_NE(std::string(err.what()).find(fmt::format("(largest batch that fits: {})", room.max_batch)), std::string::npos)
        << err.what();
  }
  // Nothing fits: weights alone exceed the GPU.
  r.parallel = Parallel{1, 1, 1, 1};
  r.workload.batch = 1;
  EXPECT_EQ(memory_room(r).max_batch, 0);
  EXPECT_EQ(memory_room(r).max_kv_tokens, 0);
}

TEST(PerfFormulas, MemoryRoomFromTheCli) {
  const auto cli = moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-70b", "--hardware", "h100_sxm", "--tp", "4",
                                              "--dp", "2", "--batch", "2", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const auto j = nlohmann::json::parse(cli.out)["memory"];
  ModelSpec m = load_model("llama-3.1-70b");
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request_for(m, hw);
  r.parallel = Parallel{4, 1, 1, 2};
  r.workload = Workload{2, 1024, 256};
  const MemoryRoom room = memory_room(r);
  EXPECT_EQ(j["max_batch"].get<std::int64_t>(), room.max_batch);
  EXPECT_DOUBLE_EQ(j["max_kv_tokens"].get<double>(), room.max_kv_tokens);
}

// Overheads: prefill tokens pay kernel_overhead_s per operator, decode tokens (graph-captured)
// decode_kernel_overhead_s, a mixed step the token-weighted mean; each step pays
// step_overhead_s + seq_overhead_s x sequences. Llama-3.1-8B in GenZ mode (no other
// overheads, TP1 so no collectives): a decode step has 32 layers x (QKV, attention, O,
// up+gate, down) + LM head = 161 operators.
TEST(PerfFormulas, OverheadsByHand) {
  ModelSpec m = load_model("llama-3.1-8b");
  Hardware hw = load_hardware("genz_h100");
  EstimateRequest r = request_for(m, hw);
  r.efficiency = Efficiency::genz();
  EstimateRequest o = r;
  o.efficiency.kernel_overhead_s = 10e-6;
  o.efficiency.decode_kernel_overhead_s = 2e-6;
  o.efficiency.step_overhead_s = 1e-3;
  o.efficiency.seq_overhead_s = 50e-6;
  // Decode only, 4 sequences: 161 x 2 us + 1 ms + 4 x 50 us = 1.522 ms.
  const StepSegment dec{4, 1, 100};
  double plain = step_cost(r, std::span<const StepSegment>(&dec, 1)).time_s;
  double with = step_cost(o, std::span<const StepSegment>(&dec, 1)).time_s;
  EXPECT_NEAR((with - plain) * 1e3, 1.522, 1e-9);
  // Mixed: 4 decode tokens + one 12-token prompt: T = 16, decode share 4/16, so each operator
  // pays 10 - 0.25 x (10 - 2) = 8 us. Operators: 32 x (2 x 3 attention + 2 FFN) + LM head +
  // embedding GEMM (GenZ prices it in prefill) = 258 -> 2.064 ms + 1 ms + 5 x 50 us = 3.314 ms.
  const std::array<StepSegment, 2> mixed{dec, StepSegment{1, 12, 0}};
  plain = step_cost(r, mixed).time_s;
  with = step_cost(o, mixed).time_s;
  EXPECT_NEAR((with - plain) * 1e3, 3.314, 1e-9);
  // decode_kernel_overhead_s < 0 (files without it): decode pays kernel_overhead_s too.
  o.efficiency.decode_kernel_overhead_s = -1;
  with = step_cost(o, std::span<const StepSegment>(&dec, 1)).time_s;
  plain = step_cost(r, std::span<const StepSegment>(&dec, 1)).time_s;
  EXPECT_NEAR((with - plain) * 1e3, 1.61 + 1 + 0.2, 1e-9);
}

// The splitwise-2024 terms by hand, Llama-3.1-8B at TP2 in GenZ mode (no other overheads or
// latencies), a decode step of 4 sequences: 32 layers x 2 all-reduces of 4 x 4096 x 2 B =
// 32 KiB each, plus the LM head's logits all-gather.
TEST(PerfFormulas, StackTermsByHand) {
  ModelSpec m = load_model("llama-3.1-8b");
  Hardware hw = load_hardware("genz_h100");
  EstimateRequest r = request_for(m, hw);
  r.parallel.tp = 2;
  r.efficiency = Efficiency::genz();
  const StepSegment dec{4, 1, 100};
  auto step = [&](const EstimateRequest& q) { return step_cost(q, std::span<const StepSegment>(&dec, 1)).time_s; };
  const double base = step(r);
  // comm_hop_overhead_s: each all-reduce over 2 GPUs has 2 ring steps, the all-gather 1:
  // 64 x 2 + 1 = 129 steps x 1 us.
  EstimateRequest o = r;
  o.efficiency.comm_hop_overhead_s = 1e-6;
  EXPECT_NEAR(step(o) - base, 129e-6, 1e-12);
  // comm_large_bytes / comm_bw_large: all-reduces of >= 32 KiB at half the link: each of the
  // 64 pays its bandwidth term (2(n-1)/n x 32768 B / (450 x 2^30 B/s)) once more.
  o = r;
  o.efficiency.comm_large_bytes = 32768;
  o.efficiency.comm_bw_large = 0.5;
  EXPECT_NEAR(step(o) - base, 64 * 32768.0 / (450.0 * 1073741824.0), 1e-12);
  o.efficiency.comm_large_bytes = 32769;  // one byte more than the messages: no change
  EXPECT_NEAR(step(o) - base, 0.0, 1e-15);
  // elementwise_factor: with elementwise traffic on, 3x moves 2 x 8 x T x H x 2 B more per
  // layer at 3400 x 2^30 B/s: 32 x 2 x 8 x 4 x 4096 x 2 / 3650722201600 = 4.596 us.
  o = r;
  o.efficiency.elementwise_ops = true;
  const double with_ew = step(o);
  o.efficiency.elementwise_factor = 3;
  EXPECT_NEAR(step(o) - with_ew, 32 * 2 * 8 * 4 * 4096 * 2.0 / (3400.0 * 1073741824.0), 1e-12);
}

TEST(PerfFormulas, PowerCapStretchesPromptWorkOnly) {
  ModelSpec m = load_model("llama-3.1-8b");
  const Hardware full = load_hardware("h100_sxm");
  const Hardware capped = load_hardware("h100_sxm_pcap70");
  EXPECT_NEAR(capped.prefill_clock_fraction, 1 / 1.3, 1e-15);
  EstimateRequest r;
  r.model = &m;
  r.parallel.tp = 2;
  auto step = [&](const Hardware& hw, std::span<const StepSegment> segs) {
    EstimateRequest q = r;
    q.hardware = &hw;
    return step_cost(q, segs).time_s;
  };
  // A prompt step runs at the capped clock: 1.3x; a decode step is untouched.
  const StepSegment prompt{2, 512, 0}, decode{8, 1, 700};
  EXPECT_NEAR(step(capped, {&prompt, 1}), 1.3 * step(full, {&prompt, 1}), 1e-12);
  EXPECT_DOUBLE_EQ(step(capped, {&decode, 1}), step(full, {&decode, 1}));
  // A mixed step stretches by the prompt share of its tokens: 1024 of 1032 tokens.
  const StepSegment mixed[] = {prompt, decode};
  EXPECT_NEAR(step(capped, mixed), (1 + 0.3 * 1024.0 / 1032.0) * step(full, mixed), 1e-12);
}

TEST(PerfFormulas, BusiestRankByHand) {
  // E[max of n standard normals]: 1/sqrt(pi) at n = 2, 3/(2 sqrt(pi)) at n = 3 (exact); the
  // table interpolates in log2 n between powers of two.
  EXPECT_EQ(expected_max_std_normal(1), 0.0);
  EXPECT_NEAR(expected_max_std_normal(2), 1 / std::sqrt(M_PI), 1e-4);
  EXPECT_NEAR(expected_max_std_normal(3), 3 / (2 * std::sqrt(M_PI)), 0.015);
  EXPECT_NEAR(expected_max_std_normal(8), 1.4236, 1e-4);
  // 24 assignments over 8 ranks: mean 3, variance 24 x 1/8 x 7/8 = 2.625; busiest
  // 3 + 1.4236 x sqrt(2.625) = 5.3065; capped at the whole load.
  EXPECT_NEAR(busiest_of(3, 2.625, 8, 24), 3 + 1.4236 * std::sqrt(2.625), 1e-9);
  EXPECT_EQ(busiest_of(3, 2.625, 8, 4), 4.0);
  EXPECT_EQ(busiest_of(3, 2.625, 1, 24), 3.0);
}

// An explicit per-GPU load vector: the busiest over the mean replaces the binomial spread.
TEST(PerfFormulas, ExplicitPerGpuLoads) {
  const double loads[] = {3, 1, 1, 1};
  EXPECT_DOUBLE_EQ(load_imbalance(loads), 3.0 / 1.5);
  for (std::vector<double> bad : {std::vector<double>{}, {1, -1}, {0, 0}, {1, std::nan("")}}) {
    try {
      load_imbalance(bad);
      ADD_FAILURE() << "accepted";
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::usage);
    }
  }
  ModelSpec m = load_model("deepseek-v2-lite");
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request_for(m, hw);
  r.parallel = Parallel{4, 1, 4, 1};
  r.workload = Workload{8, 512, 64};
  r.efficiency = Efficiency::defaults();  // the CLI's
  r.efficiency.moe_imbalance = 2.0;
  r.efficiency.moe_imbalance_measured = true;
  const Estimate e = estimate(r);
  const auto cli = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v2-lite", "--hardware", "h100_sxm", "--tp", "4",
                                              "--ep", "4", "--batch", "8", "--input-len", "512", "--output-len", "64",
                                              "--ep-loads", "3,1,1,1", "--json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const auto j = nlohmann::json::parse(cli.out);
  EXPECT_DOUBLE_EQ(j["tpot_s"].get<double>(), e.tpot_s);
  EXPECT_DOUBLE_EQ(j["ttft_s"].get<double>(), e.ttft_s);
  // Measured uniform loads (imbalance 1) are cheaper than the uniform assumption's expected
  // busiest rank; a measured imbalance of 2 dearer.
  r.efficiency.moe_imbalance = 1.0;
  const double uniform = estimate(r).tpot_s;
  r.efficiency.moe_imbalance_measured = false;
  const double assumed = estimate(r).tpot_s;
  EXPECT_LT(uniform, assumed);
  EXPECT_GT(e.tpot_s, assumed);
  EXPECT_EQ(moeplan::testing::run_cli({"estimate", "--model", "deepseek-v2-lite", "--hardware", "h100_sxm", "--tp", "4", "--ep",
                                       "4", "--ep-loads", "1,1"})
                .exit_code,
            2);
}

TEST(PerfFormulas, ExpertParallelStepWaitsForTheBusiestRank) {
  // DeepSeek-V2-Lite (64 experts, top-6, hidden 2048, expert FFN 1408) at TP8 x EP8 in GenZ
  // mode (no overheads, latencies or ramp), decoding 4 sequences: the routed-expert part is the
  // two grouped GEMMs of the busiest rank, per MoE layer.
  ModelSpec m = load_model("deepseek-v2-lite");
  Hardware hw = load_hardware("genz_h100");
  EstimateRequest r = request_for(m, hw);
  r.parallel.tp = 8;
  r.parallel.ep = 8;
  r.efficiency = Efficiency::genz();
  const StepSegment dec{4, 1, 100};
  const StepCost s = step_cost(r, std::span<const StepSegment>(&dec, 1));
  // 4 x 6 = 24 assignments over 8 ranks (busiest 5.3065); each rank's 8 experts are touched
  // with p = 1 - (58/64)^4 each: busiest 8p + 1.4236 sqrt(8p(1-p)), at most 8.
  const double assigned = 3 + 1.4236 * std::sqrt(24.0 / 8 * 7 / 8);
  const double p = 1 - std::pow(58.0 / 64, 4);
  const double touched = std::min(8.0, 8 * p + 1.4236 * std::sqrt(8 * p * (1 - p)));
  const Device d = make_device(hw, r.efficiency, DType::bf16);
  const double layer = grouped_gemm_cost(d, assigned, touched, 2048, 2 * 1408, 2, 2, r.efficiency.gemm).time_s +
                       grouped_gemm_cost(d, assigned, touched, 1408, 2048, 2, 2, r.efficiency.gemm).time_s;
  int moe_layers = 0;
  for (const LayerSpec& l : m.layers) moe_layers += l.moe ? 1 : 0;
  EXPECT_EQ(moe_layers, 26);
  EXPECT_NEAR(s.part_s[static_cast<int>(Part::moe_experts)], moe_layers * layer, 1e-15);
  // Without EP (one rank holds every expert) the mean is the busiest: 24 rows, 64p experts.
  r.parallel.ep = 1;
  const StepCost one = step_cost(r, std::span<const StepSegment>(&dec, 1));
  const Device d1 = make_device(hw, r.efficiency, DType::bf16);
  const double f1 = 1408.0 / 8;  // MoE-TP 8
  const double layer1 = grouped_gemm_cost(d1, 24, 64 * p, 2048, 2 * f1, 2, 2, r.efficiency.gemm).time_s +
                        grouped_gemm_cost(d1, 24, 64 * p, f1, 2048, 2, 2, r.efficiency.gemm).time_s;
  EXPECT_NEAR(one.part_s[static_cast<int>(Part::moe_experts)], moe_layers * layer1, 1e-15);
}

TEST(PerfFormulas, AllToAllAcrossNodesPaysP2pLatencyPerRemotePeer) {
  // DeepSeek-V2-Lite with attention DP 16 x EP 16 on two 8-GPU H100 nodes, decoding 32
  // sequences (2 tokens per GPU): each MoE layer's dispatch and combine exchange with 15 peers,
  // 8 of them on the other node, and each of those exchanges pays the system's p2p latency on
  // top of the NVLink / NIC transfer (ep_all_to_all_s): 26 MoE layers x 2 x (that + 8 x p2p);
  // with node dedup one remote node, 1 x p2p. The comm part less the all-to-alls is 0 (tp 1).
  ModelSpec m = load_model("deepseek-v2-lite");
  Hardware hw = load_hardware("h100_sxm");
  ASSERT_EQ(hw.gpus_per_node, 8);
  ASSERT_GT(hw.p2p_latency_s, 0);
  EstimateRequest r = request_for(m, hw);
  r.parallel.dp = 16;
  r.parallel.ep = 16;
  r.efficiency = Efficiency::defaults();
  const StepSegment dec{32, 1, 100};
  const double token_bytes = 2048 * 2.0;  // hidden x bf16 activations
  const double hop = hw.hop_latency_s + r.efficiency.comm_hop_overhead_s;
  auto a2a = [&](bool dedup) {
    const AllToAllBytes b = ep_dispatch_bytes(2, token_bytes, 6, 16, 8, dedup);
    return ep_all_to_all_s(b, 16, hw.intra_node_bw_bytes_per_s * r.efficiency.comm_bw,
                           hw.inter_node_bw_bytes_per_s * r.efficiency.comm_bw, hw.collective_start_latency_s, hop);
  };
  const double comm = step_cost(r, std::span<const StepSegment>(&dec, 1)).part_s[static_cast<int>(Part::comm)];
  EXPECT_NEAR(comm, 26 * 2 * (a2a(false) + 8 * hw.p2p_latency_s), 1e-12);
  r.efficiency.a2a_node_dedup = true;
  const double dedup = step_cost(r, std::span<const StepSegment>(&dec, 1)).part_s[static_cast<int>(Part::comm)];
  EXPECT_NEAR(dedup, 26 * 2 * (a2a(true) + 1 * hw.p2p_latency_s), 1e-12);
}
