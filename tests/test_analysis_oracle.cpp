// The analysis metrics against the independent reference values in
// ../shared/oracles/analysis (README there): every number of every oracle key, integers exactly,
// floats to 1e-9 relative; once through the library's JSON builder (what `moeplan analyze
// --json` prints) and once through the CLI itself.
#include <fstream>
#include <nlohmann/json.hpp>

#include "moeplan/analysis/report.hpp"
#include "moeplan/trace/import.hpp"
#include "support/support.hpp"

namespace moeplan::analysis {
namespace {

void expect_match(const nlohmann::json& want, const nlohmann::json& got, const std::string& path) {
  if (want.is_object()) {
    ASSERT_TRUE(got.is_object()) << path;
    for (const auto& [key, value] : want.items()) {
      ASSERT_TRUE(got.contains(key)) << "missing " << path << "/" << key;
      expect_match(value, got[key], path + "/" + key);
    }
  } else if (want.is_array()) {
    ASSERT_TRUE(got.is_array()) << path;
    ASSERT_EQ(want.size(), got.size()) << path;
    for (std::size_t i = 0; i < want.size(); ++i) expect_match(want[i], got[i], path + "/" + std::to_string(i));
  } else if (want.is_null()) {
    EXPECT_TRUE(got.is_null()) << path;
  } else if (want.is_string() || want.is_boolean()) {
    EXPECT_EQ(want, got) << path;
  } else if (want.is_number_integer()) {
    ASSERT_TRUE(got.is_number_integer()) << path;
    EXPECT_EQ(want.get<std::int64_t>(), got.get<std::int64_t>()) << path;
  } else {
    ASSERT_TRUE(got.is_number()) << path;
    double w = want.get<double>(), g = got.get<double>();
    EXPECT_LE(std::abs(w - g), 1e-9 * std::abs(w)) << path << ": want " << w << ", got " << g;
  }
}

nlohmann::json read_oracle(const std::string& name) {
  std::ifstream in(testing::shared_dir() / "oracles/analysis" / name);
  return nlohmann::json::parse(in);
}

void check_against_oracle(const trace::TraceSet& set, const std::string& oracle) {
  // Round trip through text, as `moeplan analyze --json` prints it.
  auto got = nlohmann::json::parse(to_json(analyze(set)).dump());
  const auto want = read_oracle(oracle);
  expect_match(want, got, "");
  // Metric families the reference omits must be absent here too (k = 1, one domain, ...).
  for (const char* key : {"prefill_decode", "coactivation", "domains"})
    EXPECT_EQ(want.contains(key), got.contains(key)) << key;
}

TEST(AnalysisOracle, MaverickBothSubjects) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  MOEPLAN_REQUIRE_SHARED("oracles/analysis/maverick_visible.json");
  auto base = testing::shared_dir() / "data/llama4-maverick-mmlu";
  trace::ImportOptions opt;
  opt.num_experts = 128;
  auto set = trace::import_traces({(base / "abstract_algebra").string(), (base / "anatomy").string()}, opt);
  check_against_oracle(set, "maverick_visible.json");
}

TEST(AnalysisOracle, DeepSeekPuffin) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  MOEPLAN_REQUIRE_SHARED("oracles/analysis/deepseek_visible.json");
  trace::ImportOptions opt;
  opt.num_experts = 64;
  auto set = trace::import_traces({(testing::shared_dir() / "data/deepseek-v2-lite-puffin/traces").string()}, opt);
  check_against_oracle(set, "deepseek_visible.json");
}

// The CLI end to end: import, analyze, print; the printed JSON must match the oracle as well.
TEST(AnalysisOracle, MaverickViaCli) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  MOEPLAN_REQUIRE_SHARED("oracles/analysis/maverick_visible.json");
  auto base = testing::shared_dir() / "data/llama4-maverick-mmlu";
  auto r = testing::run_cli({"analyze", (base / "abstract_algebra").string(), (base / "anatomy").string(),
                             "--experts", "128", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_match(read_oracle("maverick_visible.json"), nlohmann::json::parse(r.out), "");
}

}  // namespace
}  // namespace moeplan::analysis
