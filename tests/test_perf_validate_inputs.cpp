// Measurement CSV readers: every bad file in tests/bad-inputs/{silicon,splitwise,vidur-mlp}/ is
// refused by `moeplan validate` with exit 3 and one line naming the file, line and column.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/calibration.hpp"
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

// Calibration files: the optional fields are checked like the others (file and field named),
// and an entry naming a hardware is preferred for that system and skipped for others.
TEST(PerfValidateInputs, CalibrationFields) {
  using moeplan::perf::parse_calibration_yaml;
  const std::string head =
      "calibrations:\n  - backend: splitwise-2024\n    precision: bf16\n    fitted_rows: 1\n";
  const std::string serving = "    serving: {max_num_tokens: 8192, kv_memory_fraction: 0.9, ttft_factor: 1, ttft_factor_log2c: 0}\n";
  auto entry = [&](const std::string& extra, const std::string& eff_extra) {
    return head + extra +
           "    efficiency: {gemm: 0.8, attention: 0.5, mem_bw: 1, comm_bw: 0.5, kernel_overhead_s: 1e-5, "
           "step_overhead_s: 0" + eff_extra + "}\n" + serving;
  };
  auto fails = [&](const std::string& text, const std::string& field) {
    try {
      parse_calibration_yaml(text, "cal.yaml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
      std::string w = e.what();
      EXPECT_NE(w.find("cal.yaml"), std::string::npos) << w;
      EXPECT_NE(w.find(field), std::string::npos) << w;
    }
  };
  fails(entry("", ", comm_large_bytes: -1"), "efficiency.comm_large_bytes");
  fails(entry("", ", comm_bw_large: 0"), "efficiency.comm_bw_large");
  fails(entry("", ", elementwise_factor: nope"), "efficiency.elementwise_factor");
  fails(entry("", ", gemm_m_half: -3"), "efficiency.gemm_m_half");
  fails(entry("    hardware: [a, b]\n", ""), "calibrations[0].hardware");

  auto set = parse_calibration_yaml(entry("    hardware: h100_sxm\n", ", comm_large_bytes: 5e7, comm_bw_large: 0.2") +
                                        "  - backend: splitwise-2024\n    precision: bf16\n    fitted_rows: 1\n"
                                        "    efficiency: {gemm: 0.5, attention: 0.5, mem_bw: 1, comm_bw: 0.5, "
                                        "kernel_overhead_s: 0, step_overhead_s: 0}\n" + serving,
                                    "cal.yaml");
  ASSERT_EQ(set.entries.size(), 2u);
  EXPECT_DOUBLE_EQ(set.entries[0].efficiency.comm_large_bytes, 5e7);
  EXPECT_DOUBLE_EQ(set.entries[0].efficiency.comm_bw_large, 0.2);
  EXPECT_DOUBLE_EQ(set.entries[1].efficiency.gemm_m_half, moeplan::perf::Efficiency::defaults().gemm_m_half);
  EXPECT_EQ(set.find("splitwise-2024", "bf16", "h100_sxm"), &set.entries[0]);
  EXPECT_EQ(set.find("splitwise-2024", "bf16", "a100_sxm"), &set.entries[1]);  // any-hardware entry
  EXPECT_EQ(set.find("splitwise-2024", "bf16"), &set.entries[1]);
  EXPECT_EQ(set.find("vllm", "bf16"), nullptr);
}
