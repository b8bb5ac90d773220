// Speculative decoding, pipeline micro-batches and the node-split expert all-to-all: hand
// calculations and invariants (docs/perf-model.md "Speculative decoding", "Pipeline
// micro-batches", "Expert-parallel all-to-all").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/roofline.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/speculative.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

EstimateRequest request(const ModelSpec& m, const Hardware& hw, int tp, std::int64_t batch) {
  EstimateRequest r;
  r.model = &m;
  r.hardware = &hw;
  r.parallel.tp = tp;
  r.efficiency = Efficiency::defaults();
  r.workload = {batch, 1024, 256};
  return r;
}

double step_time(const EstimateRequest& r, std::vector<StepSegment> segs) { return step_cost(r, segs).time_s; }

}  // namespace

TEST(PerfSpeculative, TokensPerIteration) {
  EXPECT_DOUBLE_EQ(tokens_per_iteration(0, 0.9), 1.0);
  EXPECT_DOUBLE_EQ(tokens_per_iteration(3, 0.0), 1.0);   // nothing accepted: the verified token only
  EXPECT_DOUBLE_EQ(tokens_per_iteration(3, 1.0), 4.0);   // everything accepted
  EXPECT_DOUBLE_EQ(tokens_per_iteration(3, 0.5), 1.875);  // 1 + 1/2 + 1/4 + 1/8
  EXPECT_NEAR(tokens_per_iteration(1, 0.85), 1.85, 1e-12);
}

// A verification segment of q tokens prices its LM head on all q tokens of every sequence, like
// a decode step of q x b sequences, and with q = 1 it is exactly the decode step.
TEST(PerfSpeculative, VerifySegmentIsDecodeLike) {
  const ModelSpec m = load_model("llama-3.1-8b");
  const Hardware hw = load_hardware("h100_sxm");
  const EstimateRequest r = request(m, hw, 1, 8);
  EXPECT_DOUBLE_EQ(step_time(r, {{8, 1, 1000, true}}), step_time(r, {{8, 1, 1000, false}}));
  const int lm = static_cast<int>(Part::embed_lmhead);
  EXPECT_DOUBLE_EQ(step_cost(r, std::vector<StepSegment>{{8, 3, 1000, true}}).part_s[lm],
                   step_cost(r, std::vector<StepSegment>{{24, 1, 1000, false}}).part_s[lm]);
  // As a prompt chunk the same tokens get the LM head on the last token of each sequence only.
  EXPECT_LT(step_cost(r, std::vector<StepSegment>{{8, 3, 1000, false}}).part_s[lm],
            step_cost(r, std::vector<StepSegment>{{8, 3, 1000, true}}).part_s[lm]);
}

// MLA verifies against the cached latents (absorbed weights), not by re-expanding the whole
// context into per-head keys and values as a prompt chunk does: at a long context the
// verification moves a fraction of the bytes, close to a decode step's.
TEST(PerfSpeculative, MlaVerificationStaysAbsorbed) {
  const ModelSpec m = load_model("deepseek-v3");
  const Hardware hw = load_hardware("h200_sxm");
  EstimateRequest r = request(m, hw, 8, 8);
  r.parallel.ep = 8;
  const StepCost verify = step_cost(r, std::vector<StepSegment>{{8, 2, 8000, true}});
  const StepCost chunk = step_cost(r, std::vector<StepSegment>{{8, 2, 8000, false}});
  const StepCost decode = step_cost(r, std::vector<StepSegment>{{8, 1, 8000, false}});
  const int core = static_cast<int>(Part::attn_core);
  EXPECT_LT(verify.part_s[core], chunk.part_s[core] / 4) << verify.part_s[core] << " vs " << chunk.part_s[core];
  EXPECT_LT(verify.part_s[core], 2 * decode.part_s[core]);
  EXPECT_LT(verify.bytes, chunk.bytes);
}

// Static batch with DeepSeek-V3's MTP module: one iteration = one MTP pass (a copy of the last
// layer with the shared embedding and LM head, plus its 2H -> H input projection on every rank)
// + the verification of 2 tokens per sequence; TPOT = iteration / (1 + a).
TEST(PerfSpeculative, MtpStaticBatchByHand) {
  const ModelSpec m = load_model("deepseek-v3");
  ASSERT_EQ(m.mtp_layers, 1);
  const Hardware hw = load_hardware("h200_sxm");
  EstimateRequest r = request(m, hw, 8, 32);
  r.parallel.ep = 8;
  r.workload = {32, 2048, 512};
  const Estimate plain = estimate(r);
  r.speculation = {1, 0.85, nullptr};
  const Estimate e = estimate(r);
  const double past = 2048 + 256 - 1;
  ModelSpec mtp = m;
  mtp.layers.assign(1, m.layers.back());
  EstimateRequest d = r;
  d.model = &mtp;
  const double H = 7168;
  const DType w = m.weights.attention, a = r.precision.activations;
  const double projection =
      gemm_cost(make_device(hw, r.efficiency, compute_dtype(w, a)), 32, 2 * H, H, dtype_bytes(w), dtype_bytes(a), r.efficiency.gemm)
          .time_s;
  EXPECT_GT(projection, 0);
  const double draft = step_time(d, {{32, 1, past}}) + projection;
  const double verify = step_time(r, {{32, 2, past, true}});
  EXPECT_NEAR(e.decode.time_s, draft + verify, 1e-12);
  EXPECT_NEAR(e.tokens_per_step, 1.85, 1e-12);
  EXPECT_NEAR(e.tpot_s, (draft + verify) / 1.85, 1e-12);
  EXPECT_DOUBLE_EQ(e.ttft_s, plain.ttft_s);
  EXPECT_LT(e.tpot_s, plain.tpot_s);
  // Memory: the module is one more copy of the last layer (weights and KV cache) and its
  // projection, 2 x 7168 x 7168 fp8 weights on every GPU.
  ASSERT_EQ(w, DType::fp8);
  ModelSpec plus = m;
  plus.layers.push_back(m.layers.back());
  EstimateRequest p = r;
  p.model = &plus;
  p.speculation = {};
  EXPECT_NEAR(e.memory.weights_bytes_per_gpu, memory_use(p).weights_bytes_per_gpu + 2 * H * H, 1.0);
  EXPECT_NEAR(e.memory.kv_cache_bytes_per_gpu, memory_use(p).kv_cache_bytes_per_gpu, 1.0);
}

// A draft model drafts n tokens one pass at a time, each at a context one longer.
TEST(PerfSpeculative, DraftModelPasses) {
  const ModelSpec target = load_model("llama-3.1-70b");
  const ModelSpec draft = load_model("llama-3.1-8b");
  const Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request(target, hw, 4, 8);
  r.speculation = {3, 0.6, &draft};
  const SpecIteration it = speculative_iteration(r, 8, 500);
  EstimateRequest d = request(draft, hw, 4, 8);
  const double passes = step_time(d, {{8, 1, 500}}) + step_time(d, {{8, 1, 501}}) + step_time(d, {{8, 1, 502}});
  EXPECT_NEAR(it.draft.time_s, passes, 1e-12);
  EXPECT_NEAR(it.verify.time_s, step_time(r, {{8, 4, 500, true}}), 1e-12);
  EXPECT_NEAR(it.tokens_per_seq, 1 + 0.6 + 0.36 + 0.216, 1e-12);
  EXPECT_NEAR(it.combined().time_s, it.draft.time_s + it.verify.time_s, 1e-15);
}

// Serving: TPOT = mean iteration / tau, and the steady-state prefill share per step grows by
// tau (requests finish tau times sooner): a fraction f = b x tau / OSL of the iterations
// carries one whole 1024-token prompt (one chunk), the rest are plain iterations (the mean
// step, docs/perf-model.md). Acceptance 0 only adds work.
TEST(PerfSpeculative, ServingIteration) {
  const ModelSpec m = load_model("deepseek-v3");
  const Hardware hw = load_hardware("h200_sxm");
  EstimateRequest r = request(m, hw, 8, 8);
  r.parallel.ep = 8;
  const ServingParams p;
  const ServingWorkload w{64, 1024, 512};
  const ServingEstimate plain = serve_aggregated(r, w, p);
  r.speculation = {2, 0.8, nullptr};
  const ServingEstimate s = serve_aggregated(r, w, p);
  const double tau = 1 + 0.8 + 0.64;
  const double b = s.running, past = 1024 + 256 - 1;
  const double f = b * tau / 512;
  ASSERT_LT(f, 1);
  const StepSegment prompt{1, 1024, 0};
  const double with = speculative_iteration(r, b, past, std::span<const StepSegment>(&prompt, 1)).combined().time_s;
  const double without = speculative_iteration(r, b, past, {}).combined().time_s;
  EXPECT_NEAR(s.mixed_step_s, (1 - f) * without + f * with, 1e-12);
  EXPECT_NEAR(s.tpot_s, s.mixed_step_s / tau, 1e-12);
  EXPECT_LT(s.tpot_s, plain.tpot_s);
  r.speculation.acceptance = 0;
  EXPECT_GT(serve_aggregated(r, w, p).tpot_s, plain.tpot_s);
}

TEST(PerfSpeculative, Refusals) {
  const ModelSpec m = load_model("llama-3.1-70b");
  const ModelSpec odd = load_model("qwen3-32b");  // 64 heads: tp 3 would not divide them
  const Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request(m, hw, 4, 8);
  r.speculation = {2, 0.7, nullptr};  // no MTP modules
  EXPECT_NE(speculation_problem(r).find("no multi-token-prediction modules"), std::string::npos);
  EXPECT_THROW(estimate(r), moeplan::Error);
  r.speculation = {2, 1.5, &odd};
  EXPECT_NE(speculation_problem(r).find("acceptance 1.5"), std::string::npos);
  Estimate e;
  std::string why;
  EXPECT_FALSE(try_estimate(r, e, why));
  EXPECT_NE(why.find("speculative decoding"), std::string::npos);
}

// Pipeline: m micro-batches over pp stages. Prefill = (m + pp - 1) slots of step(b/m) / pp;
// decode = max(m, pp) slots. m = 1 is the plain step.
TEST(PerfPipeline, MicroBatchesByHand) {
  const ModelSpec m = load_model("llama-3.1-70b");
  const Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request(m, hw, 2, 64);
  r.parallel.pp = 4;
  const double ctx_past = 1024 + 128 - 1;
  const Estimate one = estimate(r);
  EXPECT_NEAR(one.ttft_s, step_cost(r, 64, 1024, 0).time_s, 1e-12);
  EXPECT_NEAR(one.tpot_s, step_cost(r, 64, 1, static_cast<std::int64_t>(ctx_past)).time_s, 1e-12);
  r.parallel.microbatches = 4;
  const Estimate four = estimate(r);
  EXPECT_NEAR(four.ttft_s, step_cost(r, 16, 1024, 0).time_s * 7 / 4, 1e-12);
  EXPECT_NEAR(four.tpot_s, step_cost(r, 16, 1, static_cast<std::int64_t>(ctx_past)).time_s, 1e-12);
  r.parallel.microbatches = 8;
  const Estimate eight = estimate(r);
  EXPECT_NEAR(eight.ttft_s, step_cost(r, 8, 1024, 0).time_s * 11 / 4, 1e-12);
  EXPECT_NEAR(eight.tpot_s, step_cost(r, 8, 1, static_cast<std::int64_t>(ctx_past)).time_s * 2, 1e-12);
  // Compute-bound prefill gains from filling the pipe.
  EXPECT_LT(four.ttft_s, one.ttft_s);
  r.parallel.microbatches = 3;  // does not divide 64
  EXPECT_NE(parallel_problem(m, r.parallel, r.workload).find("3 micro-batches does not divide the batch 64"), std::string::npos);
  r.parallel = Parallel{};
  r.parallel.microbatches = 2;
  EXPECT_NE(parallel_problem(m, r.parallel, r.workload).find("need pipeline stages"), std::string::npos);
}

// 10 tokens of 100 bytes, top-8 over 16 GPUs in 2 nodes of 8: 8000 bytes of copies; 7/16 stay
// in the node (3500), 8/16 cross it (4000). Node dedup: each token crosses once to the other
// node unless all 8 experts are local: 10 x 100 x (1 - 0.5^8) = 996.09375; the 4000 bytes
// that arrive are forwarded to 7 of 8 GPUs there: +3500.
TEST(PerfAllToAll, NodeSplitByHand) {
  AllToAllBytes b = ep_dispatch_bytes(10, 100, 8, 16, 8, false);
  EXPECT_DOUBLE_EQ(b.intra, 3500);
  EXPECT_DOUBLE_EQ(b.inter, 4000);
  b = ep_dispatch_bytes(10, 100, 8, 16, 8, true);
  EXPECT_DOUBLE_EQ(b.inter, 996.09375);
  EXPECT_DOUBLE_EQ(b.intra, 7000);
  // Time: both links at once, the slower decides: max(7000 / 1e9, 996.09375 / 1e8) + start + 15 hops.
  EXPECT_NEAR(ep_all_to_all_s(b, 16, 1e9, 1e8, 1e-5, 1e-6), 1e-5 + 15e-6 + 996.09375 / 1e8, 1e-15);
  // Inside one node it is the plain all-to-all of the k copies.
  b = ep_dispatch_bytes(10, 100, 8, 8, 8, true);
  EXPECT_DOUBLE_EQ(b.inter, 0);
  EXPECT_NEAR(ep_all_to_all_s(b, 8, 1e9, 1e8, 1e-5, 1e-6), all_to_all_s(8000, 8, 1e9, 1e-5, 1e-6), 1e-15);
  EXPECT_EQ(ep_all_to_all_s(ep_dispatch_bytes(10, 100, 8, 1, 8, false), 1, 1e9, 1e8, 1e-5, 1e-6), 0.0);
}

// `estimate --prefill-workers ...` is serve_disaggregated(): the decode workers take --tp/--ep,
// the prefill workers their own layout; GPUs = 2 x 8 + 1 x 8.
TEST(PerfDisaggregated, CliMatchesTheLibrary) {
  const auto r = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v3", "--hardware", "h200_sxm", "--tp", "8", "--ep", "8",
                                            "--concurrency", "64", "--input-len", "4096", "--output-len", "1024",
                                            "--prefill-workers", "2", "--prefill-tp", "8", "--prefill-ep", "8",
                                            "--prefill-batch", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const ModelSpec m = load_model("deepseek-v3");
  const Hardware hw = load_hardware("h200_sxm");
  DisaggLayout d;
  d.decode = request(m, hw, 8, 1);
  d.decode.parallel.ep = 8;
  d.prefill = d.decode;
  d.prefill_workers = 2;
  d.prefill_batch = 2;
  const ServingEstimate e = serve_disaggregated(d, ServingWorkload{64, 4096, 1024}, ServingParams{});
  EXPECT_EQ(j["parallel"]["gpus"].get<int>(), 24);
  EXPECT_DOUBLE_EQ(j["ttft_s"].get<double>(), e.ttft_s);
  EXPECT_DOUBLE_EQ(j["tpot_s"].get<double>(), e.tpot_s);
  EXPECT_DOUBLE_EQ(j["serving"]["kv_transfer_s"].get<double>(), e.kv_transfer_s);
  EXPECT_EQ(j["serving"]["mode"], "disaggregated");
  EXPECT_GT(e.kv_transfer_s, 0);
  // TPOT is the decode pool's decode-only step: no prefill rides in it.
  EXPECT_DOUBLE_EQ(e.tpot_s, e.decode_step_s);
  // A prefill layout that cannot split the heads, and a prefill pool without --concurrency.
  auto bad = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v3", "--hardware", "h200_sxm", "--tp", "8", "--ep", "8",
                                        "--concurrency", "64", "--prefill-workers", "1", "--prefill-tp", "3"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("prefill worker: tp 3 does not divide the 128 attention heads"), std::string::npos) << bad.err;
  bad = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v3", "--hardware", "h200_sxm", "--batch", "4",
                                   "--prefill-workers", "1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("needs --concurrency"), std::string::npos) << bad.err;
}

// --routing measures the expert load and the all-to-all sends on a trace. Hand-made trace for
// deepseek-v2-lite (64 experts, top-6): 16 one-token requests, every token on experts 0-5 in
// both MoE layers. At ep 16 on H100 (2 nodes x 8 GPUs, 4 experts per GPU, contiguous),
// experts 0-3 are on GPU 0 and 4-5 on GPU 1; requests are homed round-robin on GPUs 0..15.
//   load per layer: GPU 0 = 4 x 16 = 64 of 6 x 16 = 96 in all, mean 6: imbalance 64/6.
//   inter-node copies: the 8 tokens homed on node 1 send all 6: 48 / 16 = 3 per token;
//   dedup: one send each, 8 / 16 = 0.5.
//   intra-node copies (other GPU, same node): home 0 sends 2 (to GPU 1), home 1 sends 4
//   (to GPU 0), homes 2..7 send 6: 42 / 16 = 2.625.
TEST(PerfRouting, MeasuredLoadAndSendsByHand) {
  moeplan::testing::TempDir dir;
  std::string text = "{\"moeplan_jsonl\": 1, \"moe_layer_ids\": [1, 2], \"num_experts\": 64, \"top_k\": 6}\n";
  for (int i = 0; i < 16; ++i)
    text += "{\"id\": \"r" + std::to_string(i) + "\", \"prefill\": [[[0,1,2,3,4,5],[0,1,2,3,4,5]]]}\n";
  const std::string trace = dir.file("t.jsonl");
  moeplan::testing::write_text(trace, text);
  const auto r = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v2-lite", "--hardware", "h100_sxm", "--tp", "1",
                                            "--dp", "16", "--ep", "16", "--batch", "16", "--routing", trace, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out)["routing"];
  EXPECT_NEAR(j["moe_imbalance"].get<double>(), 64.0 / 6.0, 1e-12);
  EXPECT_NEAR(j["inter_node_copies_per_token"].get<double>(), 3.0, 1e-12);
  EXPECT_NEAR(j["inter_node_sends_per_token_dedup"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(j["intra_node_copies_per_token"].get<double>(), 2.625, 1e-12);
  // The library prices the all-to-all from those shares: T tokens x H x a bytes per send.
  const AllToAllBytes b = ep_dispatch_bytes(10, 100, EpTraffic{2.625, 3.0, 4.0, 0.5, {}}, false);
  EXPECT_DOUBLE_EQ(b.intra, 2625);
  EXPECT_DOUBLE_EQ(b.inter, 3000);
  EXPECT_DOUBLE_EQ(ep_dispatch_bytes(10, 100, EpTraffic{2.625, 3.0, 4.0, 0.5, {}}, true).inter, 500);
  // The step prices each MoE layer at its own imbalance: with per-layer values {1, 3}, the
  // experts cost the mean of the step priced at 1 and at 3 everywhere.
  ModelSpec lite = load_model("deepseek-v2-lite");
  Hardware h100 = load_hardware("h100_sxm");
  EstimateRequest q = request(lite, h100, 1, 16);
  q.parallel = Parallel{1, 1, 16, 16};
  auto experts = [&](double imbalance, std::vector<double> layers) {
    q.efficiency.moe_imbalance = imbalance;
    q.ep_traffic = EpTraffic{2.625, 3.0, 0.5, 0.5, std::move(layers)};
    return step_cost(q, 16, 1, 1000).part_s[static_cast<int>(Part::moe_experts)];
  };
  const double at1 = experts(1, {}), at3 = experts(3, {});
  ASSERT_LT(at1, at3);
  EXPECT_NEAR(experts(2, {1, 3}), (at1 + at3) / 2, 1e-15);
  EXPECT_NEAR(experts(7, {3, 3, 3}), at3, 1e-15);  // the per-layer values win over the mean
  // A trace of another expert count is refused, naming both.
  const auto bad = moeplan::testing::run_cli({"estimate", "--model", "deepseek-v3", "--hardware", "h100_sxm", "--tp", "8",
                                              "--ep", "8", "--routing", trace});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("routes top-6 of 64 experts, deepseek-v3 top-8 of 256"), std::string::npos) << bad.err;
}

// Overlap: each layer costs compute + comm - f x min(compute, comm). Llama-3.1-70B decode on
// 8 H100 at batch 1: a layer's two all-reduces are shorter than its weight reads, so all of
// the layers' communication hides at f = 1; the embedding all-reduce and the logits
// all-gather stay (they are outside the layers).
TEST(PerfOverlap, LayerCollectivesHideBehindCompute) {
  const ModelSpec m = load_model("llama-3.1-70b");
  const Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r = request(m, hw, 8, 1);
  const StepCost plain = step_cost(r, 1, 1, 1000);
  const double bw = hw.intra_node_bw_bytes_per_s * r.efficiency.comm_bw;
  const double hop = hw.hop_latency_s + r.efficiency.comm_hop_overhead_s;
  const double outside = all_reduce_s(8192 * 2.0, 8, bw, hw.collective_start_latency_s, hop) +
                         all_gather_s(128256 * 2.0, 8, bw, hw.collective_start_latency_s, hop);
  const int comm = static_cast<int>(Part::comm), hidden = static_cast<int>(Part::comm_hidden);
  const double layers_comm = plain.part_s[comm] - outside;
  ASSERT_GT(layers_comm, 0);
  r.efficiency.comm_overlap = 1;
  const StepCost full = step_cost(r, 1, 1, 1000);
  EXPECT_NEAR(full.part_s[hidden], -layers_comm, 1e-12);
  EXPECT_NEAR(full.time_s, plain.time_s - layers_comm, 1e-12);
  r.efficiency.comm_overlap = 0.5;
  EXPECT_NEAR(step_cost(r, 1, 1, 1000).part_s[hidden], -0.5 * layers_comm, 1e-12);
  EXPECT_DOUBLE_EQ(plain.part_s[hidden], 0.0);
  // Parts still sum to the step time.
  double sum = 0;
  for (double p : full.part_s) sum += p;
  EXPECT_NEAR(sum, full.time_s, 1e-12);
}

// A 2-D mesh (wafer): 36 dies of a 6 x 6 mesh each sending 1e6 bytes over 1e12 B/s links:
// the cut carries 36^2 x 1e6 / (4 x 35) per direction over 6 links = 1.542857e-6 s, more
// than the injection bound 1e6 / 4e12.
TEST(PerfMesh, AllToAllByHand) {
  EXPECT_NEAR(mesh_all_to_all_transfer_s(1e6, 36, 6, 6, 1e12), 1296e6 / 140 / 6e12, 1e-18);
  EXPECT_NEAR(mesh_all_to_all_transfer_s(1e6, 2, 1, 2, 1e12), 1e6 / 1e12, 1e-18);  // two dies, one link
  EXPECT_EQ(sub_mesh(36, 6, 6), std::make_pair(6, 6));
  EXPECT_EQ(sub_mesh(8, 6, 6), std::make_pair(2, 4));
  EXPECT_EQ(sub_mesh(32, 6, 6), std::make_pair(6, 6));  // no 32-die rectangle fits: the region holding them
  EXPECT_EQ(sub_mesh(7, 6, 6), std::make_pair(3, 3));
  EXPECT_EQ(sub_mesh(12, 2, 8), std::make_pair(2, 6));
}

// DeepSeek-V3 decode on 32 dies of the wafer preset (tp 1, dp 32, ep 32): each MoE layer's
// dispatch and combine = 2 x (start + (6 + 6)/3 hops + transfer), transfer = the mesh bound on
// the T x k x H x 2 x 31/32 bytes a die sends; no other collective at tp 1.
TEST(PerfMesh, WaferExpertAllToAll) {
  const ModelSpec m = load_model("deepseek-v3");
  const Hardware hw = load_hardware("wafer_mesh_6x6");
  EstimateRequest r = request(m, hw, 1, 64);
  r.parallel.dp = 32;
  r.parallel.ep = 32;
  const StepCost s = step_cost(r, 64, 1, 1000);
  const double T = 2;  // 64 sequences over 32 ranks
  const double bytes = T * 8 * 7168 * 2 * 31.0 / 32;
  const double bw = hw.intra_node_bw_bytes_per_s * r.efficiency.comm_bw;
  const double hop = hw.hop_latency_s + r.efficiency.comm_hop_overhead_s;
  const double layer = 2 * (hw.collective_start_latency_s + 4 * hop + mesh_all_to_all_transfer_s(bytes, 32, 6, 6, bw));
  EXPECT_NEAR(s.part_s[static_cast<int>(Part::comm)], layer * m.num_moe_layers(), 1e-12);
}
