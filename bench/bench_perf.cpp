// Time per analytic estimate (prefill + decode step + memory) on one core, per serving point
// (steady state at a concurrency), and sweep throughput (points/s, CSV rows included) on 1 and
// 2 threads. GenZ needs 73-83 ms per estimate (../shared/oracles/genz/README.md).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/sweep.hpp"
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

// One steady-state serving point (estimate --concurrency): three mixed steps and the KV room.
void BM_ServeDeepSeekV3(benchmark::State& state) {
  setenv("MOEPLAN_DATA_DIR", MOEPLAN_BENCH_SOURCE_DIR "/data", 0);
  moeplan::perf::ModelSpec model = moeplan::perf::load_model("deepseek-v3");
  moeplan::perf::Hardware hw = moeplan::perf::load_hardware("h200_sxm");
  moeplan::perf::EstimateRequest r;
  r.model = &model;
  r.hardware = &hw;
  r.parallel = {8, 1, 8, 1};
  r.efficiency = moeplan::perf::Efficiency::defaults();
  std::int64_t c = 1;
  for (auto _ : state) {
    c = c % 128 + 1;
    auto e = moeplan::perf::serve_aggregated(r, {c, 4096, 1024}, moeplan::perf::ServingParams{});
    benchmark::DoNotOptimize(e.tpot_s);
  }
}

// The sweep driver over MoE and dense models, static batches and serving points, CSV rows
// formatted (into a discarded sink). Argument: OpenMP threads.
void BM_Sweep(benchmark::State& state) {
  setenv("MOEPLAN_DATA_DIR", MOEPLAN_BENCH_SOURCE_DIR "/data", 0);
  const char* grid = R"(
models: [deepseek-v3, qwen3-235b-a22b, mixtral-8x7b, llama-3.1-70b]
hardware: [h100_sxm, h200_sxm]
dtypes: [fp8, bf16]
parallel: {tp: [1, 2, 4, 8], pp: [1, 2], ep: [1, 2, 4, 8], dp: [1, 2, 4, 8]}
load: {batch: [1, 4, 16, 64, 256], concurrency: [8, 64], input_len: [512, 2048, 8192], output_len: [128, 1024]}
)";
  moeplan::perf::Sweep sweep(moeplan::perf::parse_sweep_grid(grid, "bench.yaml"), nullptr);
#ifdef _OPENMP
  omp_set_num_threads(static_cast<int>(state.range(0)));
#endif
  std::size_t bytes = 0, feasible = 0;
  for (auto _ : state) {
    auto run = moeplan::perf::run_sweep(sweep, 0, 0, true, [&](const std::string& b) { bytes += b.size(); }, {});
    feasible = run.feasible;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * sweep.size()));
  state.counters["points"] = static_cast<double>(sweep.size());
  state.counters["feasible"] = static_cast<double>(feasible);
  benchmark::DoNotOptimize(bytes);
}

}  // namespace

BENCHMARK(BM_EstimateDeepSeekV3);
BENCHMARK(BM_EstimateQwen3_235B);
BENCHMARK(BM_EstimateLlama70B);
BENCHMARK(BM_ServeDeepSeekV3);
BENCHMARK(BM_Sweep)->Arg(1)->Arg(2)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
