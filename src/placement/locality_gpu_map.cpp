// locality: maps each node's experts onto the node's GPUs. Moving experts between GPUs of one
// node does not change inter-node traffic, so this step only balances: largest load first onto
// the least-loaded GPU with a free slot, then moves and swaps that lower the busiest GPU.
#include <algorithm>
#include <numeric>

#include "placement/locality_internal.hpp"

namespace moeplan::placement::locality_detail {

namespace {

// gpu_of[i] for the node's experts ex (loads from g); G GPUs of `slots` slots each.
void balance_node(const Hypergraph& g, const std::vector<int>& ex, int gpus, int slots,
                  std::vector<int>& gpu_of) {
  std::vector<int> order(ex.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return g.load[ex[a]] > g.load[ex[b]]; });
  std::vector<std::int64_t> load(gpus, 0);
  std::vector<int> used(gpus, 0);
  gpu_of.assign(ex.size(), -1);
  for (int i : order) {
    int best = -1;
    for (int q = 0; q < gpus; ++q)
      if (used[q] < slots && (best < 0 || load[q] < load[best])) best = q;
    gpu_of[i] = best;
    load[best] += g.load[ex[i]];
    ++used[best];
  }
  const int n = static_cast<int>(ex.size());
  for (int iter = 0; iter < 4 * n + 16; ++iter) {
    int m = 0;
    for (int q = 1; q < gpus; ++q)
      if (load[q] > load[m]) m = q;
    // Best single move or swap involving the busiest GPU: smallest resulting pair maximum.
    std::int64_t best_max = load[m];
    int bi = -1, bj = -1, bq = -1;
    for (int i = 0; i < n; ++i) {
      if (gpu_of[i] != m) continue;
      const std::int64_t li = g.load[ex[i]];
      for (int q = 0; q < gpus; ++q) {
        if (q == m || used[q] >= slots) continue;
        const std::int64_t nm = std::max(load[m] - li, load[q] + li);
        if (nm < best_max) best_max = nm, bi = i, bj = -1, bq = q;
      }
      for (int j = 0; j < n; ++j) {
        const int q = gpu_of[j];
        if (q == m) continue;
        const std::int64_t d = li - g.load[ex[j]];
        if (d <= 0) continue;
        const std::int64_t nm = std::max(load[m] - d, load[q] + d);
        if (nm < best_max) best_max = nm, bi = i, bj = j, bq = q;
      }
    }
    if (bi < 0) break;
    const std::int64_t li = g.load[ex[bi]];
    if (bj < 0) {
      load[m] -= li, load[bq] += li, --used[m], ++used[bq];
    } else {
      const std::int64_t d = li - g.load[ex[bj]];
      load[m] -= d, load[bq] += d;
      gpu_of[bj] = m;
    }
    gpu_of[bi] = bq;
  }
}

}  // namespace

std::vector<std::int32_t> map_to_gpus(const Hypergraph& g, std::span<const int> part,
                                      const Cluster& c) {
  std::vector<std::int32_t> row(static_cast<std::size_t>(c.slots()), -1);
  std::vector<int> ex, gpu_of;
  for (int node = 0; node < c.nodes; ++node) {
    ex.clear();
    for (int v = 0; v < g.vertices; ++v)
      if (part[v] == node) ex.push_back(v);
    balance_node(g, ex, c.gpus_per_node, c.slots_per_gpu, gpu_of);
    std::vector<int> fill(c.gpus_per_node, 0);
    for (std::size_t i = 0; i < ex.size(); ++i) {  // experts ascending within each GPU
      const int gpu = node * c.gpus_per_node + gpu_of[i];
      row[static_cast<std::size_t>(gpu) * c.slots_per_gpu + fill[gpu_of[i]]++] = ex[i];
    }
  }
  return row;
}

void rebalance_gpus(const Hypergraph& g, std::vector<std::int32_t>& row, const Cluster& c,
                    double max_imbalance) {
  std::vector<std::int64_t> load(c.gpus(), 0);
  std::int64_t total = 0;
  for (int s = 0; s < c.slots(); ++s)
    if (row[s] >= 0) load[c.gpu_of_slot(s)] += g.load[row[s]], total += g.load[row[s]];
  const double bound = max_imbalance * static_cast<double>(total) / c.gpus();
  for (int iter = 0; iter < 4 * c.slots(); ++iter) {
    const int m = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
    if (static_cast<double>(load[m]) <= bound) return;
    std::int64_t best_max = load[m];
    int bs = -1, bt = -1;
    for (int s = m * c.slots_per_gpu; s < (m + 1) * c.slots_per_gpu; ++s) {
      const std::int64_t ls = row[s] >= 0 ? g.load[row[s]] : 0;
      for (int t = 0; t < c.slots(); ++t) {
        const int q = c.gpu_of_slot(t);
        if (q == m) continue;
        const std::int64_t d = ls - (row[t] >= 0 ? g.load[row[t]] : 0);
        if (d <= 0) continue;
        const std::int64_t nm = std::max(load[m] - d, load[q] + d);
        if (nm < best_max) best_max = nm, bs = s, bt = t;
      }
    }
    if (bs < 0) return;
    const std::int64_t d = g.load[row[bs]] - (row[bt] >= 0 ? g.load[row[bt]] : 0);
    load[m] -= d;
    load[c.gpu_of_slot(bt)] += d;
    std::swap(row[bs], row[bt]);
  }
}

double gpu_imbalance(const Hypergraph& g, std::span<const std::int32_t> row, const Cluster& c) {
  std::vector<std::int64_t> load(c.gpus(), 0);
  std::int64_t total = 0;
  for (int s = 0; s < c.slots(); ++s)
    if (row[s] >= 0) load[c.gpu_of_slot(s)] += g.load[row[s]], total += g.load[row[s]];
  if (total == 0) return 1.0;
  const double mean = static_cast<double>(total) / c.gpus();
  return static_cast<double>(*std::max_element(load.begin(), load.end())) / mean;
}

}  // namespace moeplan::placement::locality_detail
