// The real sets in ../shared/data: `trace info --json` counts, and lossless .moet round trips
// (import -> save -> load, raw and compressed) through the CLI and the library.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::run_cli;
using moeplan::testing::shared_dir;
using moeplan::testing::TempDir;

namespace {

void expect_round_trip(const std::string& input, int experts) {
  mt::ImportOptions opt;
  opt.num_experts = experts;
  mt::TraceSet set = mt::import_traces({input}, opt);
  TempDir dir;
  for (bool compress : {false, true}) {
    std::string path = dir.file(compress ? "z.moet" : "raw.moet");
    mt::save_moet(set, path, {compress, 3});
    mt::TraceSet back = mt::load_moet(path);
    EXPECT_TRUE(mt::same_content(set, back)) << input << " compress=" << compress;
    // Spot-check order explicitly: first and last request ids and the last routing id.
    EXPECT_EQ(back.requests.front().id, set.requests.front().id);
    EXPECT_EQ(back.requests.back().id, set.requests.back().id);
    EXPECT_EQ(back.ids[back.ids.size() - 1], set.ids[set.ids.size() - 1]);
  }
}

}  // namespace

TEST(RealTraces, MaverickInfoCounts) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  auto r = run_cli({"trace", "info", (shared_dir() / "data/llama4-maverick-mmlu").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["requests"], 235);
  EXPECT_EQ(j["prefill_tokens"], 2924 + 1909);
  EXPECT_EQ(j["decode_tokens"], 12800 + 16884);
  EXPECT_EQ(j["moe_layers"], 24);
  EXPECT_EQ(j["num_layers"], 48);
  EXPECT_EQ(j["experts"], 128);
  EXPECT_EQ(j["top_k"], 1);
  EXPECT_EQ(j["domains"]["abstract_algebra"], 100);
  EXPECT_EQ(j["domains"]["anatomy"], 135);
  EXPECT_EQ(j["token_layers"], 377376 + 451032);
}

TEST(RealTraces, DeepSeekInfoCounts) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  auto r = run_cli({"trace", "info", (shared_dir() / "data/deepseek-v2-lite-puffin/traces").string(),
                    "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["requests"], 999);
  EXPECT_EQ(j["prefill_tokens"], 94165);
  EXPECT_EQ(j["decode_tokens"], 0);
  EXPECT_EQ(j["moe_layers"], 26);
  EXPECT_EQ(j["experts"], 64);
  EXPECT_EQ(j["top_k"], 6);
  EXPECT_EQ(j["prefill_per_request"]["max"], 2850);
}

TEST(RealTraces, MaverickRoundTripIsLossless) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  expect_round_trip((shared_dir() / "data/llama4-maverick-mmlu").string(), 128);
}

TEST(RealTraces, DeepSeekRoundTripIsLossless) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  expect_round_trip((shared_dir() / "data/deepseek-v2-lite-puffin/traces").string(), 64);
}

TEST(RealTraces, PredictorBaselineFormattedFilesImport) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/predictor-baseline/formatted");
  auto set = mt::import_traces(
      {(shared_dir() / "data/deepseek-v2-lite-puffin/predictor-baseline/formatted").string()}, {});
  EXPECT_EQ(set.requests.size(), 100u);
  EXPECT_EQ(set.prefill_tokens(), 1543u);
}

TEST(RealTraces, ConvertThenInfoViaCli) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  TempDir dir;
  auto c = run_cli({"trace", "convert", (shared_dir() / "data/llama4-maverick-mmlu/anatomy").string(),
                    "-o", dir.file("anatomy.moet")});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r = run_cli({"trace", "info", dir.file("anatomy.moet"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["requests"], 135);
  EXPECT_EQ(j["prefill_tokens"], 1909);
  EXPECT_EQ(j["decode_tokens"], 16884);
  EXPECT_EQ(j["domains"]["anatomy"], 135);
}
