// Trace benchmarks: import of the real Maverick set (../shared), and .moet reload (mmap path)
// of a large routing array. Run through bench/run_trace_bench.sh, which also runs the Python
// baseline in the same script and prints the ratios.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"

namespace fs = std::filesystem;
namespace mt = moeplan::trace;

namespace {

std::string shared_dir() {
  if (const char* env = std::getenv("MOEPLAN_SHARED")) return env;
  return (fs::path(MOEPLAN_BENCH_SOURCE_DIR) / ".." / "shared").lexically_normal().string();
}

void BM_ImportMaverick(benchmark::State& state) {
  std::string dir = shared_dir() + "/data/llama4-maverick-mmlu";
  if (!fs::exists(dir)) {
    state.SkipWithError(("shared data not found: " + dir).c_str());
    return;
  }
  std::uint64_t tokens = 0;
  for (auto _ : state) {
    mt::TraceSet set = mt::import_traces({dir}, {});
    tokens = set.num_tokens();
    benchmark::DoNotOptimize(set.ids.data());
  }
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_ImportMaverick)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// A synthetic set with `mib` MiB of routing (uint8 ids), written once per process.
const std::string& big_moet(int mib) {
  static std::string path;
  if (!path.empty()) return path;
  path = (fs::temp_directory_path() / ("moeplan-bench-" + std::to_string(mib) + ".moet")).string();
  const int layers = 61, k = 8, per_request_tokens = 512;
  const std::size_t per_token = static_cast<std::size_t>(layers) * k;
  const std::size_t requests = (static_cast<std::size_t>(mib) << 20) / (per_token * per_request_tokens);
  std::vector<mt::ParsedFile> files(1);
  files[0].model = {"bench", layers + 3, {}, 256, k};
  for (int l = 0; l < layers; ++l) files[0].model.moe_layer_ids.push_back(l + 3);
  std::mt19937 rng(1);
  for (std::size_t r = 0; r < requests; ++r) {
    mt::RequestRouting q;
    q.id = std::to_string(r);
    q.domain = "bench";
    q.prefill_tokens = per_request_tokens / 2;
    q.decode_tokens = per_request_tokens / 2;
    q.ids.resize(per_token * per_request_tokens);
    for (auto& v : q.ids) v = static_cast<std::uint16_t>(rng() & 255u);
    files[0].requests.push_back(std::move(q));
  }
  mt::save_moet(mt::assemble(std::move(files), {}), path);
  return path;
}

void BM_ReloadMoetMmap(benchmark::State& state) {
  const std::string& path = big_moet(static_cast<int>(state.range(0)));
  std::size_t bytes = 0;
  for (auto _ : state) {
    mt::TraceSet set = mt::load_moet(path);  // verifies checksums and every id < E
    bytes = set.ids.bytes();
    benchmark::DoNotOptimize(set.ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
  state.counters["routing_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_ReloadMoetMmap)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
