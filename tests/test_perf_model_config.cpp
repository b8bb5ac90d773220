// Model config loading: every shared config loads (or is refused with a reason), the zoo
// resolves, and parameter counts match published totals (hand calculations in comments).
#include <gtest/gtest.h>

#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/model_config.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;
namespace fs = std::filesystem;

namespace {

ModelSpec zoo_model(const std::string& name) {
  return load_model_config((moeplan::testing::source_dir() / "data/models" / [&] {
                             for (const auto& e : zoo())
                               if (name == e.name) return std::string(e.file);
                             return std::string("missing");
                           }()).string());
}

// |got - want| / want within tol.
void expect_near_rel(double got, double want, double tol, const std::string& what) {
  EXPECT_NEAR(got / want, 1.0, tol) << what << ": got " << got / 1e9 << "B, want " << want / 1e9 << "B";
}

}  // namespace

TEST(PerfModelConfig, EverySharedConfigLoads) {
  MOEPLAN_REQUIRE_SHARED("data/models");
  int n = 0;
  for (const auto& ent : fs::directory_iterator(moeplan::testing::shared_dir() / "data/models")) {
    if (ent.path().extension() != ".json") continue;
    ++n;
    SCOPED_TRACE(ent.path().filename().string());
    ModelSpec m = load_model_config(ent.path().string());
    EXPECT_GT(m.hidden, 0);
    EXPECT_GT(m.num_layers(), 0);
    EXPECT_GT(count_params(m).total, 1e9);
    for (const auto& w : m.warnings) {
      EXPECT_EQ(w.find('\n'), std::string::npos);
      std::printf("  %s: %s\n", ent.path().filename().c_str(), w.c_str());
    }
  }
  EXPECT_EQ(n, 25);
}

TEST(PerfModelConfig, ZooResolvesEveryName) {
  for (const auto& e : zoo()) {
    SCOPED_TRACE(e.name);
    ModelSpec m = zoo_model(e.name);
    EXPECT_GT(count_params(m).total, 1e9);
  }
  EXPECT_EQ(load_model("deepseek-v3").name, "deepseek-v3");
  EXPECT_EQ(load_model("deepseek-ai/DeepSeek-V3").num_layers(), 61);
  EXPECT_THROW(load_model("no-such-model"), moeplan::Error);
}

// HuggingFace ids of measured deployments name their release and format; the zoo finds the
// bundled config of the same model.
TEST(PerfModelConfig, ZooNameForHuggingFaceIds) {
  const std::pair<const char*, const char*> cases[] = {
      {"deepseek-ai/DeepSeek-V3", "deepseek-v3"},                      // exact
      {"Qwen/Qwen3-32B-FP8", "qwen3-32b-fp8"},                          // exact beats normalised
      {"deepseek-ai/DeepSeek-V3-0324", "deepseek-v3"},                  // release tag
      {"deepseek-ai/DeepSeek-R1-0528", "deepseek-r1"},
      {"deepseek-ai/DeepSeek-V3.1", "deepseek-v3.1-nvfp4"},             // format tag of the bundled one
      {"zai-org/GLM-5", "glm-5"},                                       // another organisation
      {"meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"},             // Meta- prefix, -Instruct
      {"nvidia/Llama-3.1-405B-Instruct-FP8", "llama-3.1-405b"},
      {"Qwen/Qwen3-235B-A22B-Instruct-2507", "qwen3-235b-a22b"},
      {"moonshotai/Kimi-K2-Instruct-0905", "kimi-k2"},
      {"mistralai/Mixtral-8x22B-Instruct-v0.1", "mixtral-8x22b"},       // -Instruct mid-name
      {"llama-3.1-70b", "llama-3.1-70b"},                               // a zoo name
      {"unknown/Model-X", ""},
      {"Qwen/Qwen3-32", ""},                                            // no partial matches
  };
  for (const auto& [id, want] : cases) EXPECT_EQ(zoo_name_for_id(id), want) << id;
}

TEST(PerfModelConfig, FeaturesAreRead) {
  ModelSpec v3 = zoo_model("deepseek-v3");
  EXPECT_TRUE(v3.mla);
  EXPECT_EQ(v3.mla_dims.kv_lora_rank, 512);
  EXPECT_EQ(v3.mla_dims.q_lora_rank, 1536);
  EXPECT_EQ(v3.experts, 256);
  EXPECT_EQ(v3.top_k, 8);
  EXPECT_EQ(v3.shared_ffn, 2048);
  EXPECT_EQ(v3.num_moe_layers(), 58);  // first_k_dense_replace 3
  EXPECT_FALSE(v3.layers[2].moe);
  EXPECT_TRUE(v3.layers[3].moe);
  EXPECT_EQ(v3.weights.experts, DType::fp8);
  EXPECT_EQ(v3.weights.embedding, DType::bf16);
  EXPECT_TRUE(v3.warnings.empty());

  ModelSpec mav = zoo_model("llama-4-maverick");  // nested text_config, interleave step 2
  EXPECT_EQ(mav.hidden, 5120);
  EXPECT_EQ(mav.num_moe_layers(), 24);
  EXPECT_FALSE(mav.layers[0].moe);
  EXPECT_TRUE(mav.layers[1].moe);
  EXPECT_EQ(mav.ffn_dense, 16384);
  EXPECT_EQ(mav.moe_ffn, 8192);
  EXPECT_EQ(mav.shared_ffn, 8192);
  EXPECT_EQ(mav.warnings.size(), 1u);  // chunked attention

  ModelSpec oss = zoo_model("gpt-oss-120b");
  EXPECT_EQ(oss.layers[0].attn, AttnKind::sliding);
  EXPECT_EQ(oss.layers[1].attn, AttnKind::full);
  EXPECT_EQ(oss.sliding_window, 128);
  EXPECT_EQ(oss.head_dim, 64);
  EXPECT_EQ(oss.weights.experts, DType::fp4);
  EXPECT_EQ(oss.weights.attention, DType::bf16);  // self_attn not converted

  ModelSpec kimi25 = zoo_model("kimi-k2.5");  // nested, int4 routed experts only
  EXPECT_EQ(kimi25.weights.experts, DType::int4);
  EXPECT_EQ(kimi25.weights.attention, DType::bf16);
  EXPECT_EQ(kimi25.weights.shared_experts, DType::bf16);
  EXPECT_EQ(kimi25.weights.dense_ffn, DType::bf16);

  ModelSpec q35 = zoo_model("qwen3.5-397b");
  EXPECT_EQ(q35.layers[0].attn, AttnKind::linear);
  EXPECT_EQ(q35.layers[3].attn, AttnKind::full);
  ASSERT_EQ(q35.warnings.size(), 1u);
  EXPECT_NE(q35.warnings[0].find("linear attention"), std::string::npos);

  EXPECT_EQ(zoo_model("glm-5").warnings.size(), 1u);          // DSA
  EXPECT_EQ(zoo_model("deepseek-v3.2").warnings.size(), 1u);  // DSA
  ModelSpec bloom = zoo_model("bloom-176b");
  EXPECT_FALSE(bloom.gated_ffn);
  EXPECT_EQ(bloom.ffn_dense, 4 * 14336);
}

// Published totals. Each comment is the hand calculation the test checks.
TEST(PerfModelConfig, ParameterCountsMatchPublished) {
  // DeepSeek-V3 (671B total, 37B active): MLA per layer = q_a 7168*1536 + q_b 1536*128*192
  // + kv_a 7168*576 + kv_b 512*128*256 + o 128*128*7168 = 187.1M; x61 = 11.41B.
  // Dense FFN 3 layers x 3*7168*18432 = 1.19B; 58 MoE layers x (256+1) x 3*7168*2048 = 657.5B;
  // embed + head 2 x 129280*7168 = 1.85B. Total 671.0B; active 37.5B (8 routed + 1 shared).
  ParamCounts v3 = count_params(zoo_model("deepseek-v3"));
  expect_near_rel(v3.total, 671e9, 0.01, "deepseek-v3 total");
  expect_near_rel(v3.active, 37e9, 0.02, "deepseek-v3 active");
  // Kimi-K2 (1.04T total, 32B active): 64 heads -> MLA 120.5M/layer; 60 MoE layers x 385 x
  // 44.04M = 1017.4B; 1 dense 396.4M; embeddings 2 x 163840*7168 = 2.35B -> 1026.4B; active 32.9B.
  ParamCounts k2 = count_params(zoo_model("kimi-k2"));
  expect_near_rel(k2.total, 1.04e12, 0.02, "kimi-k2 total");
  expect_near_rel(k2.active, 32.6e9, 0.02, "kimi-k2 active");
  // Mixtral 8x7B (46.7B / 12.9B): 32 x (attn 4096*6144 + 4096*4096 = 41.9M, experts 8 x
  // 3*4096*14336 = 1409M) + 2 x 32000*4096 = 46.70B; active: 2 experts -> 12.88B.
  ParamCounts mx = count_params(zoo_model("mixtral-8x7b"));
  expect_near_rel(mx.total, 46.7e9, 0.01, "mixtral total");
  expect_near_rel(mx.active, 12.9e9, 0.01, "mixtral active");
  // Qwen3-235B-A22B: 94 x (attn 4096*(8192+1024) + 8192*4096 = 71.3M, 128 x 3*4096*1536 =
  // 2416M) + 2 x 151936*4096 = 235.1B; active 8 experts -> 22.2B.
  ParamCounts qw = count_params(zoo_model("qwen3-235b-a22b"));
  expect_near_rel(qw.total, 235e9, 0.01, "qwen3-235b total");
  expect_near_rel(qw.active, 22e9, 0.015, "qwen3-235b active");
  // Llama-3.1-8B: 32 x (attn 4096*6144 + 4096^2 = 41.9M, FFN 3*4096*14336 = 176.2M)
  // + 2 x 128256*4096 = 8.03B. 70B: 80 x (8192*10240 + 8192^2 + 3*8192*28672 = 855.6M)
  // + 2.10B = 70.55B. 405B: 126 x (16384*18432 + 16384^2 + 3*16384*53248 = 3191M) + 4.20B = 405.85B.
  expect_near_rel(count_params(zoo_model("llama-3.1-8b")).total, 8.03e9, 0.01, "llama-3.1-8b");
  expect_near_rel(count_params(zoo_model("llama-3.1-70b")).total, 70.6e9, 0.01, "llama-3.1-70b");
  expect_near_rel(count_params(zoo_model("llama-3.1-405b")).total, 405.9e9, 0.01, "llama-3.1-405b");
  // gpt-oss-120b (116.8B): 36 x (attn 2880*5120 + 4096*2880 + bias = 26.5M, experts 128 x
  // 3*2880^2 = 3185M) + router + 2 x 201088*2880 = 116.8B.
  expect_near_rel(count_params(zoo_model("gpt-oss-120b")).total, 116.8e9, 0.01, "gpt-oss-120b");
  // Llama-4 Maverick (400B / 17B): 24 dense layers x 3*5120*16384 + 24 MoE layers x 129 x
  // 3*5120*8192 + 48 x attn 62.9M + 2 x 202048*5120 = 400.7B; active 17.2B.
  ParamCounts mav = count_params(zoo_model("llama-4-maverick"));
  expect_near_rel(mav.total, 400e9, 0.01, "maverick total");
  expect_near_rel(mav.active, 17e9, 0.02, "maverick active");
  // BLOOM-176B (176.25B): 70 x (12 x 14336^2 + biases and LayerNorms) + 250880*14336 (tied).
  expect_near_rel(count_params(zoo_model("bloom-176b")).total, 176.25e9, 0.005, "bloom");
  // Llama-2-70B: 80 x 855.6M + 2 x 32000*8192 = 68.98B (published "70B", 68.98B in the card).
  expect_near_rel(count_params(zoo_model("llama-2-70b")).total, 68.98e9, 0.005, "llama-2-70b");
  // DeepSeek-V2-Lite (15.7B total, 2.4B active): MLA without q compression 2048*16*192 +
  // 2048*576 + 512*16*256 + 16*128*2048 = 13.6M/layer; 26 MoE layers x 66 x 3*2048*1408 =
  // 14.83B; 1 dense 3*2048*10944; 2 x 102400*2048. Total 15.71B. Active with both embeddings
  // 2.66B; the published 2.4B leaves out the input embedding (0.21B): 2.45B.
  ParamCounts lite = count_params(zoo_model("deepseek-v2-lite"));
  expect_near_rel(lite.total, 15.7e9, 0.01, "v2-lite total");
  expect_near_rel(lite.active - 102400.0 * 2048, 2.4e9, 0.025, "v2-lite active");
}

TEST(PerfModelConfig, ExpertScaleBytes) {
  // Kimi-K2.5: compressed-tensors int4, strategy "group", group_size 32 -> one bf16 scale per
  // 32 weights, 2/32 B each: 0.5 + 0.0625 = 0.5625 B per expert weight.
  ModelSpec kimi = load_model("kimi-k2.5");
  EXPECT_EQ(kimi.weights.experts, DType::int4);
  EXPECT_DOUBLE_EQ(kimi.weights.expert_scale_bytes, 2.0 / 32);
  EXPECT_DOUBLE_EQ(expert_weight_bytes(kimi.weights), 0.5625);
  // gpt-oss: mxfp4, one e8m0 byte per 32 -> 0.5 + 1/32.
  ModelSpec oss = load_model("gpt-oss-120b");
  EXPECT_DOUBLE_EQ(expert_weight_bytes(oss.weights), 0.5 + 1.0 / 32);
  // DeepSeek-V3: fp8 with 128 x 128 blocks, an fp32 scale each -> 1 + 4/16384.
  ModelSpec ds = load_model("deepseek-v3");
  EXPECT_DOUBLE_EQ(expert_weight_bytes(ds.weights), 1 + 4.0 / 16384);
  // Unquantized experts carry none; an overridden format drops the checkpoint's scales.
  EXPECT_DOUBLE_EQ(expert_weight_bytes(load_model("qwen3-235b-a22b").weights), 2.0);
  kimi.weights.experts = DType::fp8;
  EXPECT_DOUBLE_EQ(expert_weight_bytes(kimi.weights), 1.0);
}
