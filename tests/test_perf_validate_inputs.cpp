// Measurement CSV readers: every bad file in tests/bad-inputs/{silicon,splitwise,vidur-mlp}/ is
// refused by `moeplan validate` with exit 3 and one line naming the file, line and column.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/measurements.hpp"
#include "support/support.hpp"

namespace {

struct Case {
  const char* format;
  const char* file;
  const char* where;  // "line N" or "" for whole-file errors
  const char* what;   // another substring of the message
};

const Case kCases[] = {
    {"silicon", "header_only.csv", "", "no data rows"},
    {"silicon", "missing_tpot_column.csv", "column \"silicon_tpot_ms\"", "missing from the header"},
    {"silicon", "isl_not_integer.csv", "line 3: column \"isl\"", "not an integer"},
    {"silicon", "unknown_mode.csv", "line 2: column \"mode\"", "neither agg nor disagg"},
    {"silicon", "negative_tpot.csv", "line 2: column \"silicon_tpot_ms\"", "not a finite number"},
    {"silicon", "short_row.csv", "line 2", "33 fields, the header has 34"},
    {"silicon", "disagg_no_concurrency.csv", "line 2: column \"decode_batch_size\"", "silicon_concurrency"},
    {"silicon", "unterminated_quote.csv", "line 2", "unterminated quoted field"},
    {"splitwise", "header_only.csv", "", "no data rows"},
    {"splitwise", "tp_zero.csv", "line 2: column \"tp\"", "out of range"},
    {"splitwise", "prompt_time_nan.csv", "line 2: column \"prompt_time_s\"", "not a finite number"},
    {"splitwise", "unquoted_comma.csv", "line 2", "18 fields, the header has 17"},
    {"splitwise", "renamed_column.csv", "column \"token_time_s\"", "missing from the header"},
    {"vidur-mlp", "empty.csv", "", "empty file"},
    {"vidur-mlp", "header_only.csv", "", "no data rows"},
    {"vidur-mlp", "kv_heads_not_dividing.csv", "line 2: column \"n_kv_head\"", "does not divide"},
    {"vidur-mlp", "o_proj_not_number.csv", "line 2: column \"attn_post_proj_median_s\"", "not a number"},
    {"vidur-mlp", "tp_not_dividing_heads.csv", "line 2: column \"tp\"", "does not divide"},
};

}  // namespace

TEST(PerfValidateInputs, EachBadFileIsRefusedWithOneLine) {
  auto root = moeplan::testing::source_dir() / "tests/bad-inputs";
  std::size_t files = 0;
  for (const char* fmt : {"silicon", "splitwise", "vidur-mlp"})
    for (const auto& e : std::filesystem::directory_iterator(root / fmt)) files += e.path().extension() == ".csv";
  EXPECT_EQ(files, std::size(kCases)) << "every corpus file needs a case here";
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.file);
    std::string path = (root / c.format / c.file).string();
    auto r = moeplan::testing::run_cli({"validate", c.format, path, "--uncalibrated"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.where), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.what), std::string::npos) << r.err;
  }
}

TEST(PerfValidateInputs, QuotedFieldsAndCrlf) {
  // A quoted field with a comma and a doubled quote, CRLF line ends, and a trailing blank line.
  std::string text =
      "model,hardware,tp,batch_size,input_tokens,output_tokens,prompt_time_s,token_time_s,note\r\n"
      "llama2-70b,a100-80gb,4,2,512,128,0.25,0.03,\"fp16, \"\"assumed\"\"\"\r\n\r\n";
  auto rows = moeplan::perf::parse_splitwise_csv(text, "mem.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].line, 2u);
  EXPECT_EQ(rows[0].tp, 4);
  EXPECT_DOUBLE_EQ(rows[0].token_time_s, 0.03);
}

TEST(PerfValidateInputs, UnknownFormatIsUsage) {
  EXPECT_EQ(moeplan::testing::run_cli({"validate", "nope", "x.csv"}).exit_code, 2);
}
