// Cross-check against the GenZ LLM Analyzer's own estimates (../shared/oracles/genz): with
// GenZ's assumptions (Efficiency::genz(), the genz_h100 preset) every dense case agrees within
// 5% for prefill latency and decode step latency, and GenZ's capacity rejections are rejected
// too. MoE (Mixtral) cases are printed with their differences (docs/perf-model.md explains).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (char ch : line) {
    if (ch == '"') quoted = !quoted;
    else if (ch == ',' && !quoted) out.emplace_back();
    else out.back() += ch;
  }
  return out;
}

std::vector<std::map<std::string, std::string>> read_cases() {
  std::ifstream in(moeplan::testing::shared_dir() / "oracles/genz/cases.csv");
  std::string line;
  std::getline(in, line);
  auto header = split_csv(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    auto f = split_csv(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < f.size(); ++i) row[header[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(PerfGenz, DenseCasesWithinFivePercent) {
  MOEPLAN_REQUIRE_SHARED("oracles/genz/cases.csv");
  std::map<std::string, ModelSpec> models = {{"Llama-3.1-8B", load_model("llama-3.1-8b")},
                                             {"Llama-3.1-70B", load_model("llama-3.1-70b")},
                                             {"Mixtral-8x7B", load_model("mixtral-8x7b")}};
  Hardware hw = load_hardware("genz_h100");
  int dense_ok = 0, dense_total = 0, rejected_agree = 0;
  double worst = 0;
  for (auto& row : read_cases()) {
    auto it = models.find(row["model_label"]);
    if (it == models.end()) continue;  // DeepSeek: GenZ produced no estimate
    bool moe = row["is_moe"] == "True";
    int tp = std::stoi(row["tp"]), ep = std::stoi(row["ep"]);
    EstimateRequest r;
    r.model = &it->second;
    r.hardware = &hw;
    // GenZ splits attention over tp * ep GPUs; moeplan calls that tp, with ep of them
    // holding the experts.
    r.parallel = Parallel{tp * ep, 1, ep, 1};
    r.workload = Workload{std::stoll(row["batch_size"]), std::stoll(row["input_tokens"]), std::stoll(row["output_tokens"])};
    r.efficiency = Efficiency::genz();
    std::string label = row["model_label"] + " tp" + row["tp"] + " ep" + row["ep"] + " b" + row["batch_size"] + " in" + row["input_tokens"];
    if (row["prefill_status"] != "ok") {
      EXPECT_THROW(estimate(r), moeplan::Error) << label << ": GenZ rejected it (" << row["prefill_status"] << ")";
      ++rejected_agree;
      continue;
    }
    Estimate e = estimate(r);
    double pre = e.prefill.time_s * 1e3 / std::stod(row["prefill_latency_ms"]) - 1;
    double dec = e.decode.time_s * 1e3 / std::stod(row["decode_step_latency_ms"]) - 1;
    std::printf("  %-40s prefill %+6.2f%%  decode %+6.2f%%\n", label.c_str(), 100 * pre, 100 * dec);
    if (moe) continue;
    ++dense_total;
    worst = std::max({worst, std::fabs(pre), std::fabs(dec)});
    bool ok = std::fabs(pre) <= 0.05 && std::fabs(dec) <= 0.05;
    dense_ok += ok;
    EXPECT_TRUE(ok) << label;
  }
  std::printf("  dense cases within 5%%: %d of %d (worst %.2f%%); GenZ rejections reproduced: %d\n", dense_ok,
              dense_total, 100 * worst, rejected_agree);
  EXPECT_EQ(dense_total, 41);  // 24 Llama-8B + 17 Llama-70B (7 rejected by GenZ)
  EXPECT_EQ(rejected_agree, 13);
}
