// Replicas where remote demand is highest.
#include "moeplan/placement/replicate.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "moeplan/io/error.hpp"

namespace moeplan::placement {

std::vector<std::uint64_t> node_demand(const trace::TraceSet& set, const Cluster& c, const Homes& homes) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, k = set.model.top_k, N = c.nodes;
  if (homes.size() != set.requests.size())
    throw Error(ErrorKind::internal, {}, "homes cover " + std::to_string(homes.size()) + " of " +
                                             std::to_string(set.requests.size()) + " requests");
  const std::size_t cells = static_cast<std::size_t>(L) * N * E;
  const int threads = omp_get_max_threads();
  std::vector<std::vector<std::uint64_t>> partial(threads);
  set.ids.visit([&](auto ids) {
#pragma omp parallel num_threads(threads)
    {
      auto& acc = partial[omp_get_thread_num()];
      acc.assign(cells, 0);
#pragma omp for schedule(static)
      for (std::size_t r = 0; r < set.requests.size(); ++r) {
        const auto& req = set.requests[r];
        const std::size_t node = static_cast<std::size_t>(c.node_of_gpu(homes[r]));
        const std::size_t per_token = static_cast<std::size_t>(L) * k;
        const auto* p = ids.data() + req.token_offset * per_token;
        for (std::uint64_t t = 0; t < req.tokens(); ++t)
          for (int l = 0; l < L; ++l) {
            std::uint64_t* row = acc.data() + (static_cast<std::size_t>(l) * N + node) * E;
            for (int j = 0; j < k; ++j) ++row[*p++];
          }
      }
    }
  });
  std::vector<std::uint64_t> total(cells, 0);  // integer sums: order does not matter
  for (const auto& acc : partial)
    for (std::size_t i = 0; i < acc.size(); ++i) total[i] += acc[i];
  return total;
}

std::vector<ReplicaAdded> fill_spare_slots(Placement& p, const trace::TraceSet& fit, const Homes& homes) {
  const Cluster& c = p.cluster;
  const int L = p.layers, E = p.num_experts, N = c.nodes, G = c.gpus(), S = c.slots_per_gpu;
  if (fit.model.moe_layers() != L || fit.model.num_experts != E)
    throw Error(ErrorKind::bad_input, {}, "the fitting trace has " + std::to_string(fit.model.moe_layers()) + " layers x " +
                                              std::to_string(fit.model.num_experts) + " experts, the placement " +
                                              std::to_string(L) + " x " + std::to_string(E));
  const auto demand = node_demand(fit, c, homes);
  std::vector<ReplicaAdded> added;
  std::vector<char> on_node(static_cast<std::size_t>(N) * E), on_gpu(static_cast<std::size_t>(G) * E);
  std::vector<int> free_slots(G);
  std::vector<double> gpu_load(G);
  for (int l = 0; l < L; ++l) {
    auto row = p.layer(l);
    const std::uint64_t* dem = demand.data() + static_cast<std::size_t>(l) * N * E;
    std::fill(on_node.begin(), on_node.end(), 0);
    std::fill(on_gpu.begin(), on_gpu.end(), 0);
    std::fill(free_slots.begin(), free_slots.end(), 0);
    std::fill(gpu_load.begin(), gpu_load.end(), 0.0);
    std::vector<std::uint64_t> expert_total(E, 0);
    for (int n = 0; n < N; ++n)
      for (int e = 0; e < E; ++e) expert_total[e] += dem[static_cast<std::size_t>(n) * E + e];
    std::vector<int> replicas(E, 0);
    for (int s = 0; s < c.slots(); ++s)
      if (row[s] >= 0) ++replicas[row[s]];
    for (int s = 0; s < c.slots(); ++s) {
      const int g = c.gpu_of_slot(s), e = row[s];
      if (e < 0) {
        ++free_slots[g];
        continue;
      }
      on_gpu[static_cast<std::size_t>(g) * E + e] = 1;
      on_node[static_cast<std::size_t>(c.node_of_gpu(g)) * E + e] = 1;
      gpu_load[g] += static_cast<double>(expert_total[e]) / replicas[e];  // estimate: even split
    }
    auto node_has_room = [&](int n) {
      for (int g = n * c.gpus_per_node; g < (n + 1) * c.gpus_per_node; ++g)
        if (free_slots[g] > 0) return true;
      return false;
    };
    for (;;) {
      int bn = -1, be = -1;
      std::uint64_t best = 0;
      for (int n = 0; n < N; ++n) {
        if (!node_has_room(n)) continue;
        for (int e = 0; e < E; ++e) {
          const std::uint64_t d = dem[static_cast<std::size_t>(n) * E + e];
          if (!on_node[static_cast<std::size_t>(n) * E + e] && d > best) best = d, bn = n, be = e;
        }
      }
      bool remote = bn >= 0;
      if (!remote) {  // no remote demand left: the first node with room takes its most demanded
        for (int n = 0; n < N && bn < 0; ++n)  // expert that some free GPU of it lacks
          if (node_has_room(n)) bn = n;
        if (bn < 0) break;  // no free slot anywhere
      }
      // The node's GPU with a free slot and the least estimated load (lacking the expert).
      int bg = -1;
      for (int g = bn * c.gpus_per_node; g < (bn + 1) * c.gpus_per_node; ++g) {
        if (free_slots[g] == 0) continue;
        if (be >= 0 && on_gpu[static_cast<std::size_t>(g) * E + be]) continue;
        if (bg < 0 || gpu_load[g] < gpu_load[bg]) bg = g;
      }
      if (!remote) {
        for (int e = 0; e < E; ++e)
          if (!on_gpu[static_cast<std::size_t>(bg) * E + e] &&
              (be < 0 || dem[static_cast<std::size_t>(bn) * E + e] > dem[static_cast<std::size_t>(bn) * E + be]))
            be = e;
        if (be < 0) be = 0;  // the GPU already holds every expert: any replica is as good
      }
      const int slot = [&] {
        for (int s = bg * S; s < (bg + 1) * S; ++s)
          if (row[s] < 0) return s;
        throw Error(ErrorKind::internal, {}, "replication found no free slot");
      }();
      row[slot] = be;
      --free_slots[bg];
      on_gpu[static_cast<std::size_t>(bg) * E + be] = 1;
      on_node[static_cast<std::size_t>(bn) * E + be] = 1;
      gpu_load[bg] += static_cast<double>(dem[static_cast<std::size_t>(bn) * E + be]);
      added.push_back({l, be, bg, remote ? best : 0});
    }
  }
  return added;
}

}  // namespace moeplan::placement
