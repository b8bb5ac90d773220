// Analysis benchmarks in-process (no process start): the whole visible Maverick set, import
// included, and the analysis alone on the imported set. bench/run_analysis_bench.sh compares
// the first with the Python reference's own in-process time.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "moeplan/analysis/report.hpp"
#include "moeplan/trace/import.hpp"

namespace fs = std::filesystem;
namespace mt = moeplan::trace;

namespace {

std::string maverick_dir() {
  std::string shared = std::getenv("MOEPLAN_SHARED") ? std::getenv("MOEPLAN_SHARED")
                       : (fs::path(MOEPLAN_BENCH_SOURCE_DIR) / ".." / "shared").lexically_normal().string();
  return shared + "/data/llama4-maverick-mmlu";
}

void BM_ImportAndAnalyzeMaverick(benchmark::State& state) {
  if (!fs::exists(maverick_dir())) return state.SkipWithError("shared data not found");
  mt::ImportOptions opt;
  opt.num_experts = 128;
  for (auto _ : state) {
    mt::TraceSet set = mt::import_traces({maverick_dir()}, opt);
    auto json = moeplan::analysis::to_json(moeplan::analysis::analyze(set));
    benchmark::DoNotOptimize(json);
  }
}
BENCHMARK(BM_ImportAndAnalyzeMaverick)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_AnalyzeMaverick(benchmark::State& state) {
  if (!fs::exists(maverick_dir())) return state.SkipWithError("shared data not found");
  mt::ImportOptions opt;
  opt.num_experts = 128;
  mt::TraceSet set = mt::import_traces({maverick_dir()}, opt);
  for (auto _ : state) {
    auto report = moeplan::analysis::analyze(set);
    benchmark::DoNotOptimize(report);
  }
}
BENCHMARK(BM_AnalyzeMaverick)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
