// Bad model configs (tests/bad-inputs/model_config/): `moeplan estimate --model FILE` exits 3
// (bad input) with one stderr line that names the file and the offending field.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "support/support.hpp"

namespace {

struct Case {
  const char* file;
  const char* field;  // substring the message must contain ("" for whole-file errors)
  const char* what;   // another substring of the message
};

const Case kCases[] = {
    {"truncated.json", "", "not valid JSON"},
    {"empty.json", "", "not valid JSON"},
    {"array_root.json", "", "expected a JSON object"},
    {"missing_hidden_size.json", "field \"hidden_size\"", "missing"},
    {"layers_is_string.json", "field \"num_hidden_layers\"", "expected an integer"},
    {"kv_heads_not_dividing.json", "field \"num_key_value_heads\"", "does not divide"},
    {"top_k_exceeds_experts.json", "field \"num_experts_per_tok\"", "exceeds"},
    {"layer_types_wrong_length.json", "field \"layer_types\"", "expected a list of 3"},
    {"negative_vocab.json", "field \"vocab_size\"", "out of range"},
    {"mla_missing_rope_dim.json", "field \"qk_rope_head_dim\"", "missing"},
    {"nested_missing_vocab.json", "field \"text_config.vocab_size\"", "missing"},
    {"fractional_hidden.json", "field \"hidden_size\"", "expected an integer"},
    {"mlp_only_layer_out_of_range.json", "field \"mlp_only_layers\"", "layer indices"},
    {"number_overflow.json", "", "not valid JSON (a number is out of range)"},
};

}  // namespace

TEST(PerfBadInputs, EachConfigIsRefusedWithOneLine) {
  auto dir = moeplan::testing::source_dir() / "tests/bad-inputs/model_config";
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.path().extension() == ".json";
  EXPECT_EQ(files, std::size(kCases)) << "every corpus file needs a case here";
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.file);
    std::string path = (dir / c.file).string();
    auto r = moeplan::testing::run_cli({"estimate", "--model", path, "--hardware", "h100_sxm"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.what), std::string::npos) << r.err;
  }
}

TEST(PerfBadInputs, CliUsageAndInfeasible) {
  // Unknown zoo name: usage (2); tp not dividing heads: usage; too big: infeasible (4).
  EXPECT_EQ(moeplan::testing::run_cli({"estimate", "--model", "no-such", "--hardware", "h100_sxm"}).exit_code, 2);
  EXPECT_EQ(moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-8b", "--hardware", "h100_sxm", "--tp", "3"}).exit_code, 2);
  auto r = moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-405b", "--hardware", "h100_sxm"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("does not fit"), std::string::npos) << r.err;
}

TEST(PerfBadInputs, JsonOutputKeys) {
  auto r = moeplan::testing::run_cli({"estimate", "--model", "mixtral-8x7b", "--hardware", "h100_sxm", "--tp", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* key : {"\"ttft_s\"", "\"tpot_s\"", "\"e2e_s\"", "\"throughput_tokens_per_s\"",
                          "\"throughput_tokens_per_s_per_gpu\"", "\"weights_bytes_per_gpu\"", "\"kv_cache_bytes_per_gpu\"",
                          "\"breakdown\""})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
}
