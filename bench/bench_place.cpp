// Placement benchmarks on a synthetic DeepSeek-V3-sized trace (256 experts, top-8, 58 MoE
// layers, 100k tokens) at 4 nodes x 8 GPUs, round-robin homes. In the same process: the
// contiguous baseline (its fit objective counted over the trace), METIS-only (co-activation
// partition with count/balance repair, no FM) and the full `locality` algorithm.
// Run: OMP_NUM_THREADS=2 build/bench_place
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "moeplan/placement/locality.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/select.hpp"
#include "moeplan/trace/synth.hpp"

namespace mp = moeplan::placement;
namespace mt = moeplan::trace;

namespace {

struct Workload {
  mt::TraceSet set;
  mp::Cluster cluster{4, 8, 8};
  mp::Homes homes;
};

const Workload& v3() {
  static const Workload w = [] {
    Workload w;
    mt::SynthParams p;
    p.requests = 1000;
    p.layers = 58;
    p.experts = 256;
    p.top_k = 8;
    p.prefill = mt::LengthDist::parse("fixed:100");
    p.decode = mt::LengthDist::parse("fixed:0");
    p.model_name = "synthetic DeepSeek-V3 shape";
    p.skew = 0.3;  // a load spread that 1.10 max/mean can hold without replicas
    p.seed = 42;
    w.set = mt::synthesize(p);
    w.homes.resize(w.set.requests.size());
    for (std::size_t i = 0; i < w.homes.size(); ++i)
      w.homes[i] = static_cast<std::int32_t>(i % w.cluster.gpus());
    return w;
  }();
  return w;
}

double token_layers(const Workload& w) {
  return static_cast<double>(w.set.num_tokens()) * w.set.model.moe_layers();
}

void BM_Contiguous(benchmark::State& state) {
  const auto& w = v3();
  std::vector<int> node(256);
  for (int e = 0; e < 256; ++e) node[e] = w.cluster.node_of_slot(e);
  std::uint64_t sends = 0;
  for (auto _ : state) {
    sends = 0;
    for (int l = 0; l < w.set.model.moe_layers(); ++l)
      sends += mp::locality_layer_objective(w.set, l, node, w.cluster, w.homes);
  }
  state.counters["sends_per_token_layer"] = static_cast<double>(sends) / token_layers(w);
}

void run_locality(benchmark::State& state, const mp::LocalityOptions& o) {
  const auto& w = v3();
  mp::Placement p;
  for (auto _ : state) {
    p = mp::locality_placement(w.set, w.cluster, w.homes, o);
    benchmark::DoNotOptimize(p.slot_expert.data());
  }
  const double contiguous = p.provenance["objective_contiguous"].get<double>();
  const double placed = p.provenance["objective_final"].get<double>();
  state.counters["sends_per_token_layer"] = placed / token_layers(w);
  state.counters["vs_contiguous"] = placed / contiguous;
  state.counters["worst_layer_max_over_mean"] =
      p.provenance["gpu_load_max_over_mean_worst_layer"].get<double>();
}

void BM_MetisOnly(benchmark::State& state) {
  mp::LocalityOptions o;
  o.fm_passes = 0;
  o.restarts = 0;
  run_locality(state, o);
}

void BM_Locality(benchmark::State& state) { run_locality(state, {}); }

// Held-out quality on the real sets of ../shared (fit on even-indexed requests, score on
// odd-indexed ones): inter-node sends per token-layer (node-level dedup) against contiguous,
// and max/mean GPU load of the evaluation trace (loads summed over layers).
std::string shared_dir() {
  if (const char* env = std::getenv("MOEPLAN_SHARED")) return env;
  return (std::filesystem::path(MOEPLAN_BENCH_SOURCE_DIR) / ".." / "shared").lexically_normal().string();
}

mp::Homes rr(const mt::TraceSet& s, const mp::Cluster& c) {
  mp::Homes h(s.requests.size());
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::int32_t>(i % c.gpus());
  return h;
}

void BM_HeldOut(benchmark::State& state, const char* rel, mp::Cluster c) {
  const std::string dir = shared_dir() + "/" + rel;
  if (!std::filesystem::exists(dir)) {
    state.SkipWithError(("shared data not found: " + dir).c_str());
    return;
  }
  const auto all = mt::import_traces({dir}, {});
  const auto [fit, eval] = mt::split_even_odd(all);
  mp::Placement p;
  for (auto _ : state) p = mp::locality_placement(fit, c, rr(fit, c), {});
  const int E = fit.model.num_experts, L = fit.model.moe_layers(), k = fit.model.top_k;
  const auto homes = rr(eval, c);
  std::uint64_t placed = 0, contig = 0;
  std::vector<double> gpu(c.gpus(), 0);
  for (int l = 0; l < L; ++l) {
    std::vector<int> node(E), cnode(E), gpu_of(E);
    for (int s = 0; s < c.slots(); ++s)
      if (p.layer(l)[s] >= 0) node[p.layer(l)[s]] = c.node_of_slot(s), gpu_of[p.layer(l)[s]] = c.gpu_of_slot(s);
    for (int e = 0; e < E; ++e) cnode[e] = c.node_of_slot(e);
    placed += mp::locality_layer_objective(eval, l, node, c, homes);
    contig += mp::locality_layer_objective(eval, l, cnode, c, homes);
    for (std::uint64_t t = 0, T = eval.num_tokens(); t < T; ++t)
      for (int i = 0; i < k; ++i) gpu[gpu_of[eval.ids[t * eval.ids_per_token() + l * k + i]]] += 1;
  }
  double total = 0, mx = 0;
  for (double x : gpu) total += x, mx = std::max(mx, x);
  const double tl = static_cast<double>(eval.num_tokens()) * L;
  state.counters["heldout_sends_per_token_layer"] = static_cast<double>(placed) / tl;
  state.counters["heldout_contiguous"] = static_cast<double>(contig) / tl;
  state.counters["heldout_ratio"] = static_cast<double>(placed) / static_cast<double>(contig);
  state.counters["heldout_gpu_max_over_mean"] = mx / (total / c.gpus());
  state.counters["fit_ratio"] = p.provenance["objective_final"].get<double>() /
                                p.provenance["objective_contiguous"].get<double>();
}

}  // namespace

BENCHMARK_CAPTURE(BM_HeldOut, deepseek_4x4, "data/deepseek-v2-lite-puffin/traces", mp::Cluster{4, 4, 4})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_HeldOut, deepseek_2x8, "data/deepseek-v2-lite-puffin/traces", mp::Cluster{2, 8, 4})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_HeldOut, maverick_4x8, "data/llama4-maverick-mmlu", mp::Cluster{4, 8, 4})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_HeldOut, maverick_2x8, "data/llama4-maverick-mmlu", mp::Cluster{2, 8, 8})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_Contiguous)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_MetisOnly)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_Locality)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

BENCHMARK_MAIN();
