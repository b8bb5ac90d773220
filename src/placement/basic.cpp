// Baseline placements: contiguous, round-robin, random, greedy.
#include "moeplan/placement/basic.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "moeplan/analysis/loads.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::placement {
namespace {

// Puts expert e into the first free slot of GPU gpu_of[e] (layer l); the GPU must have room.
void fill_layer(Placement& p, int l, const std::vector<int>& gpu_of) {
  const int S = p.cluster.slots_per_gpu;
  std::vector<int> used(p.cluster.gpus(), 0);
  auto row = p.layer(l);
  for (int e = 0; e < p.num_experts; ++e) {
    const int g = gpu_of[e];
    if (used[g] >= S) throw Error(ErrorKind::internal, {}, "placement overfilled GPU " + std::to_string(g));
    row[g * S + used[g]++] = e;
  }
}

std::vector<int> contiguous_gpus(const Cluster& c, int experts) {
  std::vector<int> gpu_of(experts);
  const long long gpus = c.gpus();
  // Spread E experts over the GPUs as evenly as possible, in order; never above S per GPU.
  for (int e = 0; e < experts; ++e) gpu_of[e] = static_cast<int>(e * gpus / experts);
  return gpu_of;
}

}  // namespace

ExpertLoads loads_from_trace(const trace::TraceSet& set) {
  const auto loads = analysis::compute_loads(set);
  ExpertLoads out;
  out.layers = loads.all.layers;
  out.experts = loads.all.experts;
  out.load.assign(loads.all.counts.begin(), loads.all.counts.end());
  return out;
}

void adopt_layer_ids(Placement& p, const trace::ModelInfo& model) {
  if (model.moe_layers() == p.layers) p.moe_layer_ids = model.moe_layer_ids;
  p.model_layers = model.num_layers;
}

Placement contiguous_placement(const Cluster& c, int experts, int layers) {
  check_cluster(c, experts);
  Placement p = Placement::empty(c, experts, layers, "contiguous");
  const auto gpu_of = contiguous_gpus(c, experts);
  for (int l = 0; l < layers; ++l) fill_layer(p, l, gpu_of);
  return p;
}

Placement round_robin_placement(const Cluster& c, int experts, int layers) {
  check_cluster(c, experts);
  Placement p = Placement::empty(c, experts, layers, "round-robin");
  std::vector<int> gpu_of(experts);
  for (int e = 0; e < experts; ++e) gpu_of[e] = e % c.gpus();
  for (int l = 0; l < layers; ++l) fill_layer(p, l, gpu_of);
  return p;
}

Placement random_placement(const Cluster& c, int experts, int layers, std::uint64_t seed) {
  check_cluster(c, experts);
  Placement p = Placement::empty(c, experts, layers, "random");
  p.provenance["seed"] = seed;
  const auto base = contiguous_gpus(c, experts);
  std::vector<int> order(experts), gpu_of(experts);
  for (int l = 0; l < layers; ++l) {
    // One generator per layer, seeded from (seed, layer): layers are independent of each other.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(l));
    std::iota(order.begin(), order.end(), 0);
    for (int i = experts - 1; i > 0; --i) {  // Fisher-Yates with our own bounded draw: portable
      const int j = static_cast<int>(rng() % static_cast<std::uint64_t>(i + 1));
      std::swap(order[i], order[j]);
    }
    for (int i = 0; i < experts; ++i) gpu_of[order[i]] = base[i];
    fill_layer(p, l, gpu_of);
  }
  return p;
}

Placement greedy_placement(const ExpertLoads& loads, const Cluster& c) {
  check_cluster(c, loads.experts);
  Placement p = Placement::empty(c, loads.experts, loads.layers, "greedy");
  const int G = c.gpus(), S = c.slots_per_gpu;
  std::vector<int> order(loads.experts), gpu_of(loads.experts), used(G);
  std::vector<double> gpu_load(G);
  for (int l = 0; l < loads.layers; ++l) {
    auto w = loads.layer(l);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return w[a] > w[b]; });
    std::fill(used.begin(), used.end(), 0);
    std::fill(gpu_load.begin(), gpu_load.end(), 0.0);
    for (int e : order) {
      int best = -1;
      for (int g = 0; g < G; ++g)
        if (used[g] < S && (best < 0 || gpu_load[g] < gpu_load[best])) best = g;
      gpu_of[e] = best;
      ++used[best];
      gpu_load[best] += w[e];
    }
    fill_layer(p, l, gpu_of);
  }
  return p;
}

}  // namespace moeplan::placement
