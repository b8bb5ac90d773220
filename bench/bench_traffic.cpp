// Traffic accounting throughput (docs/traffic.md) on a DeepSeek-V3-sized synthetic trace:
// 256 experts, top-8, 58 MoE layers, 100k tokens, on 4 nodes x 8 GPUs x 9 slots (32 replicas).
// The optimized pass (1 and 2 threads) runs against the straightforward reference
// implementation in the same process; the reference runs on the first 1% of the requests
// (it is slow). Every benchmark reports token-layers per wall second (items_per_second) and,
// because the development machine is shared, per CPU-second of the whole process
// (tl_per_cpu_s, all threads; the CPU column is process CPU time too).
//   build/bench/bench_traffic --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <ctime>

#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/synth.hpp"

namespace mp = moeplan::placement;
namespace mt = moeplan::trace;

namespace {

mt::TraceSet make_trace(std::uint64_t requests) {
  mt::SynthParams sp;
  sp.requests = requests;
  sp.layers = 58;
  sp.experts = 256;
  sp.top_k = 8;
  sp.prefill = mt::LengthDist::parse("64");
  sp.decode = mt::LengthDist::parse("36");
  sp.model_name = "deepseek-v3-shaped";
  sp.seed = 3;
  return mt::synthesize(sp);
}

const mt::TraceSet& big() {
  static const mt::TraceSet s = make_trace(1000);  // 100,000 tokens
  return s;
}
const mt::TraceSet& small() {
  static const mt::TraceSet s = make_trace(10);  // 1,000 tokens
  return s;
}

// Contiguous, plus in every layer a replica of 32 experts (a different set per layer) in the
// ninth slot of each GPU, on another node than the original.
const mp::Placement& placement() {
  static const mp::Placement p = [] {
    const mp::Cluster c{4, 8, 9};
    mp::Placement p = mp::Placement::empty(c, 256, 58, "bench");
    for (int l = 0; l < 58; ++l) {
      auto row = p.layer(l);
      for (int g = 0; g < 32; ++g) {
        for (int i = 0; i < 8; ++i) row[static_cast<std::size_t>(g * 9 + i)] = g * 8 + i;
        row[static_cast<std::size_t>(g * 9 + 8)] = ((g + 8) % 32) * 8 + (l + g) % 8;
      }
    }
    p.check("bench");
    return p;
  }();
  return p;
}

void run(benchmark::State& state, const mt::TraceSet& set, bool reference, int threads) {
  const mp::Placement& p = placement();
  const mp::Homes homes = mp::round_robin_homes(set, p.cluster);
  mp::TrafficOptions opt;
  opt.threads = threads;
  opt.bytes = mp::MessageBytes{mp::token_bytes(7168, "fp8"), mp::token_bytes(7168, "bf16")};
  mp::TrafficReport r;
  const std::clock_t cpu0 = std::clock();  // process CPU time: every thread
  for (auto _ : state) {
    r = reference ? mp::account_traffic_reference(set, p, homes, opt) : mp::account_traffic(set, p, homes, opt);
    benchmark::DoNotOptimize(r);
  }
  const double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  const auto tl = static_cast<double>(r.total.token_layers);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(r.total.token_layers));
  state.counters["token_layers"] = tl;
  state.counters["threads"] = threads;
  state.counters["tl_per_cpu_s"] = cpu_s > 0 ? tl * static_cast<double>(state.iterations()) / cpu_s : 0;
  state.counters["inter_per_tl"] = r.inter_node_sends_per_token_layer();
  state.counters["load_max_mean"] = r.gpu_load_max_over_mean();
}

void BM_TrafficOptimized(benchmark::State& state) { run(state, big(), false, static_cast<int>(state.range(0))); }
BENCHMARK(BM_TrafficOptimized)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->MinTime(2.0);

void BM_TrafficReference(benchmark::State& state) { run(state, small(), true, 1); }
BENCHMARK(BM_TrafficReference)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
