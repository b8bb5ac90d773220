// Time per analytic estimate (prefill + decode step + memory), one core.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/zoo.hpp"

namespace {

void run(benchmark::State& state, const char* model_name, moeplan::perf::Parallel par) {
  setenv("MOEPLAN_DATA_DIR", MOEPLAN_BENCH_SOURCE_DIR "/data", 0);
  moeplan::perf::ModelSpec model = moeplan::perf::load_model(model_name);
  moeplan::perf::Hardware hw = moeplan::perf::load_hardware("h200_sxm");
  moeplan::perf::EstimateRequest r;
  r.model = &model;
  r.hardware = &hw;
  r.parallel = par;
  r.workload = {64, 4096, 1024};
  r.efficiency = moeplan::perf::Efficiency::defaults();
  std::int64_t batch = 1;
  for (auto _ : state) {
    r.workload.batch = batch;  // vary the point so nothing is hoisted
    batch = batch % 64 + 1;
    moeplan::perf::Estimate e = moeplan::perf::estimate(r);
    benchmark::DoNotOptimize(e.tpot_s);
  }
}

void BM_EstimateDeepSeekV3(benchmark::State& s) { run(s, "deepseek-v3", {8, 1, 8, 1}); }
void BM_EstimateQwen3_235B(benchmark::State& s) { run(s, "qwen3-235b-a22b", {8, 1, 8, 1}); }
void BM_EstimateLlama70B(benchmark::State& s) { run(s, "llama-3.1-70b", {4, 1, 1, 1}); }

}  // namespace

BENCHMARK(BM_EstimateDeepSeekV3);
BENCHMARK(BM_EstimateQwen3_235B);
BENCHMARK(BM_EstimateLlama70B);
BENCHMARK_MAIN();
