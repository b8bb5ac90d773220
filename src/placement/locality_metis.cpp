// locality: METIS initial partition of a layer's co-activation graph (the clique expansion of
// the hypergraph), with two balance constraints: token load and expert count per node.
#include <metis.h>

#include <algorithm>

#include "placement/locality_internal.hpp"

namespace moeplan::placement::locality_detail {

std::vector<int> metis_partition(const Hypergraph& g, double load_slack, int seed) {
  const int n = g.vertices;
  if (g.nodes <= 1 || n <= g.nodes) return {};
  // Dense co-activation counts (E is a few hundred at most in practice).
  std::vector<std::int64_t> co(static_cast<std::size_t>(n) * n, 0);
  for (int h = 0; h < g.edges(); ++h) {
    const auto e = g.edge(h);
    for (std::size_t i = 0; i < e.size(); ++i)
      for (std::size_t j = i + 1; j < e.size(); ++j) {
        co[static_cast<std::size_t>(e[i]) * n + e[j]] += g.tokens[h];
        co[static_cast<std::size_t>(e[j]) * n + e[i]] += g.tokens[h];
      }
  }
  // METIS weights are 32-bit: scale down large counts (ratios are what matters).
  std::int64_t max_w = 1;
  for (auto w : co) max_w = std::max(max_w, w);
  for (auto w : g.load) max_w = std::max(max_w, w);
  const std::int64_t div = max_w > (std::int64_t{1} << 28) ? max_w / (std::int64_t{1} << 28) + 1 : 1;

  // Sparsify: keep each vertex's kKeep strongest partners (symmetrised). The dense graph
  // costs METIS's multi-constraint refinement far more than the weak pairs are worth.
  constexpr int kKeep = 16;
  std::vector<char> keep(static_cast<std::size_t>(n) * n, 0);
  std::vector<int> order(static_cast<std::size_t>(n));
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) order[v] = v;
    const auto row = co.begin() + static_cast<std::ptrdiff_t>(u) * n;
    const int m = std::min(kKeep, n);
    std::partial_sort(order.begin(), order.begin() + m, order.end(), [&](int a, int b) {
      return row[a] != row[b] ? row[a] > row[b] : a < b;
    });
    for (int i = 0; i < m; ++i) {
      keep[static_cast<std::size_t>(u) * n + order[i]] = 1;
      keep[static_cast<std::size_t>(order[i]) * n + u] = 1;
    }
  }
  std::vector<idx_t> xadj(1, 0), adjncy, adjwgt, vwgt;
  for (int u = 0; u < n; ++u) {
    for (int v = 0; v < n; ++v) {
      const std::int64_t w = co[static_cast<std::size_t>(u) * n + v] / div;
      if (u != v && w > 0 && keep[static_cast<std::size_t>(u) * n + v]) {
        adjncy.push_back(v);
        adjwgt.push_back(static_cast<idx_t>(w));
      }
    }
    xadj.push_back(static_cast<idx_t>(adjncy.size()));
    vwgt.push_back(static_cast<idx_t>(g.load[u] / div + 1));  // never zero: METIS needs mass
    vwgt.push_back(1);
  }
  idx_t nv = n, ncon = 2, nparts = g.nodes, objval = 0;
  const double per_node = static_cast<double>(n) / g.nodes;
  real_t ubvec[2] = {static_cast<real_t>(std::max(1.001, load_slack)),
                     static_cast<real_t>(1.0 + 0.5 / per_node)};
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = seed;
  options[METIS_OPTION_NUMBERING] = 0;
  std::vector<idx_t> part(static_cast<std::size_t>(n), 0);
  if (adjncy.empty()) adjncy.push_back(0), adjwgt.push_back(0);  // METIS wants non-null arrays
  int rc;
  // METIS keeps no global state we rely on, but serialising costs nothing at these sizes and
  // keeps us independent of how the Debian build treats its memory-tracking globals.
#pragma omp critical(moeplan_metis)
  rc = METIS_PartGraphKway(&nv, &ncon, xadj.data(), adjncy.data(), vwgt.data(), nullptr,
                           adjwgt.data(), &nparts, nullptr, ubvec, options, &objval, part.data());
  if (rc != METIS_OK) return {};
  return std::vector<int>(part.begin(), part.end());
}

}  // namespace moeplan::placement::locality_detail
