// locality: one layer of a trace as a hypergraph with identical hyperedges merged.
#include <algorithm>
#include <cstring>

#include "placement/locality_internal.hpp"

namespace moeplan::placement::locality_detail {

namespace {

constexpr std::uint16_t kPad = 0xFFFF;

std::uint64_t hash_key(const std::uint16_t* key, int k) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int i = 0; i < k; ++i) {
    h ^= key[i];
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return h;
}

}  // namespace

Hypergraph build_layer_hypergraph(const trace::TraceSet& set, int layer,
                                  std::span<const std::uint8_t> token_home_node, int nodes,
                                  bool independent_homes, std::size_t sample_stride) {
  Hypergraph g;
  sample_stride = std::max<std::size_t>(1, sample_stride);
  g.vertices = set.model.num_experts;
  g.nodes = nodes;
  g.total_tokens = static_cast<std::int64_t>(token_home_node.size());
  const int k = set.model.top_k;
  const std::size_t stride = set.ids_per_token();
  const std::size_t tokens = token_home_node.size();

  // Open addressing over padded sorted keys; edges numbered by first appearance.
  std::size_t cap = 16;
  while (cap < 2 * tokens) cap <<= 1;
  std::vector<std::int32_t> table(cap, -1);
  std::vector<std::uint16_t> keys;  // k per edge
  std::vector<std::int64_t> home_count;
  std::vector<std::uint16_t> key(static_cast<std::size_t>(k));

  set.ids.visit([&](auto ids) {
    for (std::size_t t = 0; t < tokens; t += sample_stride) {
      const auto* row = ids.data() + t * stride + static_cast<std::size_t>(layer) * k;
      int n = 0;
      for (int i = 0; i < k; ++i) {  // insertion sort with duplicates dropped
        const auto v = static_cast<std::uint16_t>(row[i]);
        int j = n;
        bool dup = false;
        while (j > 0 && key[j - 1] >= v) {
          if (key[j - 1] == v) { dup = true; break; }
          --j;
        }
        if (dup) continue;
        for (int m = n; m > j; --m) key[m] = key[m - 1];
        key[j] = v;
        ++n;
      }
      for (int i = n; i < k; ++i) key[i] = kPad;
      std::size_t slot = hash_key(key.data(), k) & (cap - 1);
      std::int32_t h;
      for (;;) {
        h = table[slot];
        if (h < 0) {
          h = static_cast<std::int32_t>(g.tokens.size());
          table[slot] = h;
          keys.insert(keys.end(), key.begin(), key.end());
          g.tokens.push_back(0);
          home_count.resize(home_count.size() + nodes, 0);
          break;
        }
        if (std::memcmp(keys.data() + static_cast<std::size_t>(h) * k, key.data(),
                        sizeof(std::uint16_t) * k) == 0)
          break;
        slot = (slot + 1) & (cap - 1);
      }
      ++g.tokens[h];
      ++home_count[static_cast<std::size_t>(h) * nodes + token_home_node[t]];
    }
  });

  const int edges = g.edges();
  g.away.resize(home_count.size());
  g.edge_begin.assign(1, 0);
  g.pins.reserve(keys.size());
  g.load.assign(g.vertices, 0);
  std::vector<std::uint32_t> degree(g.vertices + 1, 0);
  std::vector<std::int64_t> homed(static_cast<std::size_t>(nodes), 0);
  for (auto p : token_home_node) ++homed[p];
  for (int h = 0; h < edges; ++h) {
    for (int p = 0; p < nodes; ++p) {
      const std::size_t i = static_cast<std::size_t>(h) * nodes + p;
      g.away[i] = independent_homes ? g.tokens[h] * (g.total_tokens - homed[p])
                                    : g.tokens[h] - home_count[i];
    }
    for (int i = 0; i < k; ++i) {
      const std::uint16_t v = keys[static_cast<std::size_t>(h) * k + i];
      if (v == kPad) break;
      g.pins.push_back(v);
      g.load[v] += g.tokens[h];
      ++degree[v + 1];
    }
    g.edge_begin.push_back(static_cast<std::uint32_t>(g.pins.size()));
  }
  g.vertex_begin.assign(g.vertices + 1, 0);
  for (int v = 0; v < g.vertices; ++v) g.vertex_begin[v + 1] = g.vertex_begin[v] + degree[v + 1];
  g.vertex_edges.resize(g.pins.size());
  std::vector<std::uint32_t> fill(g.vertex_begin.begin(), g.vertex_begin.end() - 1);
  for (int h = 0; h < edges; ++h)
    for (auto v : g.edge(h)) g.vertex_edges[fill[v]++] = static_cast<std::uint32_t>(h);
  if (sample_stride > 1) {  // balance is judged on every token, not on the sample
    std::fill(g.load.begin(), g.load.end(), 0);
    set.ids.visit([&](auto ids) {
      for (std::size_t t = 0; t < tokens; ++t) {
        const auto* row = ids.data() + t * stride + static_cast<std::size_t>(layer) * k;
        for (int i = 0; i < k; ++i) ++g.load[row[i]];
      }
    });
  }
  return g;
}

std::int64_t objective(const Hypergraph& g, std::span<const int> part) {
  std::int64_t cost = 0;
  std::vector<char> seen(static_cast<std::size_t>(g.nodes));
  for (int h = 0; h < g.edges(); ++h) {
    std::fill(seen.begin(), seen.end(), 0);
    for (auto v : g.edge(h)) {
      const int p = part[v];
      if (!seen[p]) {
        seen[p] = 1;
        cost += g.away[static_cast<std::size_t>(h) * g.nodes + p];
      }
    }
  }
  return cost;
}

std::int64_t exact_sends(const trace::TraceSet& set, int layer,
                         std::span<const std::uint8_t> token_home_node, std::span<const int> part,
                         int nodes) {
  const int k = set.model.top_k;
  const std::size_t stride = set.ids_per_token();
  std::vector<std::uint32_t> stamp(static_cast<std::size_t>(nodes), 0);
  std::int64_t sends = 0;
  set.ids.visit([&](auto ids) {
    for (std::size_t t = 0; t < token_home_node.size(); ++t) {
      const auto mark = static_cast<std::uint32_t>(t + 1);
      stamp[token_home_node[t]] = mark;
      const auto* row = ids.data() + t * stride + static_cast<std::size_t>(layer) * k;
      for (int i = 0; i < k; ++i) {
        const int p = part[row[i]];
        if (stamp[p] != mark) stamp[p] = mark, ++sends;
      }
    }
  });
  return sends;
}

}  // namespace moeplan::placement::locality_detail
