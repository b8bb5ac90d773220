// `moeplan validate` on the real measurement files in ../shared: the accuracy reached
// (docs/validation.md) is asserted so that a regression fails. Bounds sit a little above the
// measured values; tighten them when the model improves.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "moeplan/perf/calibration.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

// The AIConfigurator silicon CSV's columns, for hand-made rows.
const char* const kSiliconHeader =
    "id,silicon_data_source,backend,backend_version,model_path,system,precision,mode,isl,osl,gemm_quant_mode,"
    "moe_quant_mode,batch_size,tp_size,pp_size,attention_dp_size,moe_tp_size,moe_ep_size,prefill_batch_size,"
    "prefill_num_workers,prefill_tp_size,prefill_pp_size,prefill_attention_dp_size,prefill_moe_tp_size,"
    "prefill_moe_ep_size,decode_batch_size,decode_num_workers,decode_tp_size,decode_pp_size,"
    "decode_attention_dp_size,decode_moe_tp_size,decode_moe_ep_size,silicon_ttft_ms,silicon_tpot_ms\n";

nlohmann::json validate(const std::string& format, const std::string& rel) {
  auto path = (moeplan::testing::shared_dir() / "data/measurements" / rel).string();
  auto r = moeplan::testing::run_cli({"validate", format, path, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST(PerfValidate, SiliconAggregated) {
  MOEPLAN_REQUIRE_SHARED("data/measurements/aiconfigurator-silicon/silicon_h100_h200.csv");
  auto j = validate("silicon", "aiconfigurator-silicon/silicon_h100_h200.csv");
  EXPECT_EQ(j["rows"], 1884);
  EXPECT_LE(j["skipped"].size(), 29u);
  for (const auto& s : j["skipped"]) EXPECT_FALSE(s["reason"].get<std::string>().empty());
  const auto& agg = j["by_subset"]["agg"];
  EXPECT_GE(agg["n"].get<int>(), 1567);
  EXPECT_LE(agg["median_abs_pct_error"]["tpot_s"].get<double>(), 10.9);
  EXPECT_LE(agg["median_abs_pct_error"]["ttft_s"].get<double>(), 19.6);
  const auto& dense = j["by_subset"]["agg|dense"];
  EXPECT_LE(dense["median_abs_pct_error"]["tpot_s"].get<double>(), 5.6);
  EXPECT_LE(dense["median_abs_pct_error"]["ttft_s"].get<double>(), 12.5);
  EXPECT_LE(j["by_subset"]["agg|moe"]["median_abs_pct_error"]["tpot_s"].get<double>(), 17.8);
  EXPECT_LE(agg["p90_abs_pct_error"]["tpot_s"].get<double>(), 38.1);
  // Groups keyed model|system|backend|mode, each with n and per-metric errors.
  const auto& g = j["by_group"]["meta-llama/Llama-3.1-70B|h200_sxm|vllm|agg"];
  EXPECT_EQ(g["n"], 60);
  EXPECT_LE(g["median_abs_pct_error"]["tpot_s"].get<double>(), 6.8);
  const auto tpot = [&](const char* group) { return j["by_group"][group]["median_abs_pct_error"]["tpot_s"].get<double>(); };
  // The mean step as a mixture of pure decode steps and steps carrying prompt chunks
  // (docs/validation.md): the SGLang MoE groups 49-62% -> 9-21%; Kimi-K2.5 vLLM 20.7% -> 22.5%,
  // GLM-5 SGLang 8.0% -> 15.7%.
  // Kimi-K2.5: 22.5% -> 20.0% with the int4 experts' bf16 group scales (2/32 B per weight),
  // -> 15.2% with its unquantized attention, shared experts and dense FFNs kept in bf16.
  EXPECT_LE(tpot("moonshotai/Kimi-K2.5|h200_sxm|vllm|agg"), 15.7);
  EXPECT_LE(tpot("zhipuai/GLM-5|h200_sxm|sglang|agg"), 16.2);
  EXPECT_LE(tpot("deepseek-ai/DeepSeek-R1|h200_sxm|sglang|agg"), 21.0);
  EXPECT_LE(tpot("Qwen/Qwen3-235B-A22B-FP8|h200_sxm|sglang|agg"), 9.6);
  EXPECT_LE(tpot("Qwen/Qwen3.5-397B-A17B|h200_sxm|sglang|agg"), 17.1);
  // The busiest expert-parallel rank (docs/validation.md); the client concurrency from the
  // source note and the id's layout where the columns multiplied the GPUs by the EP degree:
  // MiniMax-M2.5 H100 (TP 4 / EP 4, 15 rows written as DP 4 x EP 16) 12.2% -> 7.8%, DeepSeek-R1
  // TensorRT-LLM H200 25.7% -> 22.4%, gpt-oss-120b TensorRT-LLM H200 40.5% -> 34.5%.
  EXPECT_LE(tpot("MiniMaxAI/MiniMax-M2.5|h100_sxm|vllm|agg"), 8.3);
  EXPECT_LE(tpot("deepseek-ai/DeepSeek-R1|h200_sxm|trtllm|agg"), 22.9);
  EXPECT_LE(tpot("openai/gpt-oss-120b|h200_sxm|trtllm|agg"), 35.0);
  EXPECT_EQ(j["by_group"]["Qwen/Qwen3.5-397B-A17B|h200_sxm|sglang|agg"]["n"], 45);
  EXPECT_LE(tpot("Qwen/Qwen3-235B-A22B-FP8|h100_sxm|trtllm|agg"), 9.9);
  int over = 0;
  for (const auto& [key, v] : j["by_group"].items())
    if (key.ends_with("|agg") && v["n"].get<int>() >= 20 && v["median_abs_pct_error"]["tpot_s"].get<double>() > 20) ++over;
  EXPECT_LE(over, 7);
}

// The silicon reader: the client concurrency is the source note's `silicon_concurrency=N`
// (batch_size is per attention-DP rank in attention-DP rows), and a row whose id names
// `tpX_epY` while its columns hold X x Y GPUs is priced on the id's X GPUs. Invariants: each
// pair of rows below describes one deployment and must be predicted alike.
TEST(PerfValidate, SiliconRowsReadAsDeployed) {
  const std::string header = kSiliconHeader;
  const std::string tail = ",,,,,,,,,,,,,,,100,10\n";
  const std::string pre = "trtllm,1.0,deepseek-ai/DeepSeek-R1,h200_sxm,fp8,agg,1024,1024,fp8,fp8_block,";
  moeplan::testing::TempDir dir;
  const auto path = (dir.path() / "rows.csv").string();
  std::ofstream(path) << header
                      // 128 clients on attention DP 8: batch_size 16 per rank, or 128 without the note
                      << "a_c128_tp8_0_ep8_0_1,silicon_concurrency=128," << pre << "16,1,1,8,1,8" << tail
                      << "b_c128_1,no note," << pre << "128,1,1,8,1,8" << tail
                      // 8 GPUs TP 8 / EP 8, written as 64 GPUs (tp 64 = moe_tp 8 x moe_ep 8)
                      << "c_c4_tp8_0_ep8_0_2,silicon_concurrency=4," << pre << "4,8,1,1,1,8" << tail
                      << "d_c4_tp8_ep8_3,silicon_concurrency=4," << pre << "4,64,1,1,8,8" << tail;
  auto r = moeplan::testing::run_cli({"validate", "silicon", path, "--rows", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["predictions"].size(), 4u) << j["skipped"].dump();
  const auto& p = j["predictions"];
  for (int pair : {0, 2})
    for (const char* m : {"tpot_s", "ttft_s"})
      EXPECT_DOUBLE_EQ(p[pair][m]["predicted"].get<double>(), p[pair + 1][m]["predicted"].get<double>()) << pair << m;
  // And the 128 clients are not priced as 16: TPOT grows with the batch.
  std::ofstream(path) << header << "e_c16_1,silicon_concurrency=16," << pre << "16,1,1,8,1,8" << tail;
  auto s = moeplan::testing::run_cli({"validate", "silicon", path, "--rows", "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_LT(nlohmann::json::parse(s.out)["predictions"][0]["tpot_s"]["predicted"].get<double>(),
            p[0]["tpot_s"]["predicted"].get<double>());
}

// Rows of GPUs not in the file (the hidden Blackwell rows): an nvfp4 row on a GPU with fp4
// tensor cores runs W4A4 (fp4 weights and GEMM inputs, TensorRT-LLM's fp8 KV cache) with the
// backend's bf16 entry, under a model id the zoo resolves (nvidia/DeepSeek-V3.1-NVFP4).
TEST(PerfValidate, BlackwellFp4RowsRunW4A4) {
  const std::string header = kSiliconHeader;
  moeplan::testing::TempDir dir;
  const auto path = (dir.path() / "rows.csv").string();
  std::ofstream(path) << header
                      << "a_c32,silicon_concurrency=32,trtllm,1.0,nvidia/DeepSeek-V3.1-NVFP4,b200_sxm,nvfp4,agg,2048,512,"
                         "nvfp4,nvfp4,32,8,1,1,1,8,,,,,,,,,,,,,,,100,10\n";
  auto r = moeplan::testing::run_cli({"validate", "silicon", path, "--rows", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["predictions"].size(), 1u) << j["skipped"].dump();
  ModelSpec m = load_model("deepseek-v3.1-nvfp4");
  m.weights.attention = m.weights.dense_ffn = m.weights.shared_experts = m.weights.experts = DType::fp4;
  const Hardware hw = load_hardware("b200_sxm");
  const CalibrationSet cal = load_calibration(default_calibration_path());
  const Calibration* c = cal.find("trtllm", "bf16");
  ASSERT_NE(c, nullptr);
  EstimateRequest q;
  q.model = &m;
  q.hardware = &hw;
  q.parallel = Parallel{8, 1, 8, 1};
  q.precision = Precision{DType::fp4, DType::fp8};
  q.efficiency = c->efficiency;
  const ServingEstimate e = serve_aggregated(q, ServingWorkload{32, 2048, 512}, c->serving);
  EXPECT_DOUBLE_EQ(j["predictions"][0]["tpot_s"]["predicted"].get<double>(), e.tpot_s);
  EXPECT_DOUBLE_EQ(j["predictions"][0]["ttft_s"]["predicted"].get<double>(), e.ttft_s);
}

// AIConfigurator's quantization mode names are all read (none skipped as unknown), and the
// mode decides the GEMM inputs: bfloat16 prices as the empty (bf16) mode, int8_wo is
// weight-only (bf16 inputs: slower GEMMs than sq's int8 ones), a W4A8 MoE mode keeps fp8 inputs.
TEST(PerfValidate, AllQuantizationModeNamesAreRead) {
  moeplan::testing::TempDir dir;
  const auto path = (dir.path() / "rows.csv").string();
  auto row = [](const std::string& id, const std::string& model, const std::string& gemm, const std::string& moe) {
    const bool dense = model.find("Llama") != std::string::npos;  // no experts: no moe_tp / moe_ep
    return id + ",silicon_concurrency=8,trtllm,1.0," + model + ",b200_sxm,x,agg,4096,256," + gemm + "," + moe + ",8,4,1,1," +
           (dense ? "," : "1,4") + ",,,,,,,,,,,,,,,100,10\n";
  };
  std::ofstream(path) << kSiliconHeader << row("a", "meta-llama/Llama-3.1-70B", "", "")
                      << row("b", "meta-llama/Llama-3.1-70B", "bfloat16", "bfloat16")
                      << row("c", "meta-llama/Llama-3.1-70B", "sq", "sq")
                      << row("d", "meta-llama/Llama-3.1-70B", "int8_wo", "int8_wo")
                      << row("e", "openai/gpt-oss-120b", "fp8", "w4a8_mxfp4_mxfp8")
                      << row("f", "openai/gpt-oss-120b", "bfloat16", "w4a16_mxfp4")
                      << row("g", "deepseek-ai/DeepSeek-V3", "fp8_block", "w4afp8")
                      << row("h", "deepseek-ai/DeepSeek-V3", "fp8_ootb", "fp8_static");
  auto r = moeplan::testing::run_cli({"validate", "silicon", path, "--rows", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["skipped"].empty()) << j["skipped"].dump();
  ASSERT_EQ(j["predictions"].size(), 8u);
  const auto& p = j["predictions"];
  auto ttft = [&](int i) { return p[i]["ttft_s"]["predicted"].get<double>(); };
  EXPECT_DOUBLE_EQ(ttft(0), ttft(1));
  EXPECT_GT(ttft(3), ttft(2));  // 4096-token prefills: int8 tensor cores beat bf16 ones
}

TEST(PerfValidate, Splitwise) {
  MOEPLAN_REQUIRE_SHARED("data/measurements/splitwise-perf-model/perf_model_median_by_config.csv");
  // Uncalibrated defaults (the 2025 kernel-level view): far too fast for the 2024 stack.
  auto j = validate("splitwise", "splitwise-perf-model/perf_model_median_by_config.csv");
  EXPECT_EQ(j["by_group"].size(), 12u);
  EXPECT_TRUE(j["skipped"].empty());
  EXPECT_LE(j["median_abs_pct_error"]["prompt_time_s"].get<double>(), 30.7);
  EXPECT_LE(j["median_abs_pct_error"]["token_time_s"].get<double>(), 37.5);
}

// The splitwise-2024 entries (data/calibration/splitwise-2024.yaml), fitted on the Llama-2-70B
// rows of A100 and H100 only: BLOOM-176B and the power-capped H100 rows are held out.
TEST(PerfValidate, SplitwiseStackEntryHeldOut) {
  MOEPLAN_REQUIRE_SHARED("data/measurements/splitwise-perf-model/perf_model_median_by_config.csv");
  auto path = (moeplan::testing::shared_dir() / "data/measurements/splitwise-perf-model/perf_model_median_by_config.csv").string();
  auto r = moeplan::testing::run_cli({"validate", "splitwise", path, "--backend", "splitwise-2024", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LE(j["median_abs_pct_error"]["prompt_time_s"].get<double>(), 5.4);
  EXPECT_LE(j["median_abs_pct_error"]["token_time_s"].get<double>(), 2.3);
  const auto& bloom = j["by_subset"]["bloom-176b"];  // held out
  EXPECT_EQ(bloom["n"], 57);
  EXPECT_LE(bloom["median_abs_pct_error"]["prompt_time_s"].get<double>(), 7.0);
  EXPECT_LE(bloom["median_abs_pct_error"]["token_time_s"].get<double>(), 4.4);
  // Every group meets the 10% target but BLOOM's A100 token time (held out, +14%); the
  // power-capped rows (held out) run on h100_sxm_pcap70, whose prompts are 1.3x slower.
  for (const auto& [g, v] : j["by_group"].items()) {
    const double prompt = v["median_abs_pct_error"]["prompt_time_s"].get<double>();
    const double token = v["median_abs_pct_error"]["token_time_s"].get<double>();
    if (g == "bloom-176b|a100-80gb|8") {
      EXPECT_LE(prompt, 10.0) << g;
      EXPECT_LE(token, 14.5) << g;
    } else {
      EXPECT_LE(prompt, 10.0) << g;
      EXPECT_LE(token, 10.0) << g;
    }
  }

  // The fit is deterministic: refitting on the same rows reproduces the committed entries.
  moeplan::testing::TempDir dir;
  auto out = (dir.path() / "sw.yaml").string();
  auto f = moeplan::testing::run_cli({"validate", "splitwise", path, "--fit-splitwise", out, "--train-models", "llama2-70b",
                                      "--train-hardware", "a100-80gb,h100-80gb", "--json"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  auto k = nlohmann::json::parse(f.out);
  EXPECT_NEAR(k["median_abs_pct_error"]["prompt_time_s"].get<double>(), j["median_abs_pct_error"]["prompt_time_s"].get<double>(), 0.2);
  EXPECT_NEAR(k["median_abs_pct_error"]["token_time_s"].get<double>(), j["median_abs_pct_error"]["token_time_s"].get<double>(), 0.2);
}

TEST(PerfValidate, VidurGemmsPerFile) {
  MOEPLAN_REQUIRE_SHARED("data/measurements/vidur-profiling");
  // Median per file over the four GEMMs of num_tokens >= 128 (the target is 15%).
  const std::pair<const char*, double> files[] = {
      {"mlp_ops_a100_Meta-Llama-3-70B.csv", 6.3}, {"mlp_ops_a100_Meta-Llama-3-8B.csv", 6.5},
      {"mlp_ops_h100_CodeLlama-34b-Instruct-hf.csv", 10.7}, {"mlp_ops_h100_Llama-2-70b-hf.csv", 10.1},
      {"mlp_ops_h100_Llama-2-7b-hf.csv", 8.5}};
  for (const auto& [file, bound] : files) {
    SCOPED_TRACE(file);
    auto j = validate("vidur-mlp", std::string("vidur-profiling/") + file);
    for (const auto& [metric, v] : j["median_abs_pct_error"].items()) EXPECT_LE(v.get<double>(), bound) << metric;
  }
}
