// The paths of the optimized traffic pass that tests/test_traffic.cpp does not reach, each
// checked against account_traffic_reference (docs/traffic.md "Implementation and speed"):
// more than 8 nodes (per-node loop instead of the remote-node subset histogram), candidate
// counts whose least common multiple is too large for the phase-unrolled table (the generic
// candidate lists), and a top-k without a specialised kernel.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/synth.hpp"

namespace mp = moeplan::placement;
namespace mt = moeplan::trace;

namespace {

// Expert e on GPU e % G (slot e / G of that GPU) in every layer, plus two spare slots per GPU
// holding the replicas listed as (expert, GPUs); expert ids shift by 5 per layer so that the
// layers differ.
mp::Placement with_replicas(mp::Cluster c, int experts, int layers,
                            const std::vector<std::pair<int, std::vector<int>>>& replicas) {
  const int G = c.gpus(), base = (experts + G - 1) / G;
  c.slots_per_gpu = base + 2;
  mp::Placement p = mp::Placement::empty(c, experts, layers, "test");
  for (int l = 0; l < layers; ++l) {
    auto row = p.layer(l);
    std::vector<int> used(static_cast<std::size_t>(G), base);
    for (int e = 0; e < experts; ++e)
      row[static_cast<std::size_t>((e % G) * c.slots_per_gpu + e / G)] = (e + 5 * l) % experts;
    for (const auto& [e, gpus] : replicas)
      for (int g : gpus) {
        const int j = used[static_cast<std::size_t>(g)]++;
        EXPECT_LT(j, c.slots_per_gpu);
        row[static_cast<std::size_t>(g * c.slots_per_gpu + j)] = (e + 5 * l) % experts;
      }
  }
  p.check("test");
  return p;
}

void expect_matches_reference(const mp::Placement& p, int layers, int top_k) {
  mt::SynthParams sp;
  sp.requests = 40, sp.layers = layers, sp.experts = p.num_experts, sp.top_k = top_k, sp.seed = 5;
  sp.prefill = mt::LengthDist::parse("20");
  sp.decode = mt::LengthDist::parse("10");
  const mt::TraceSet set = mt::synthesize(sp);
  mp::Homes homes(set.requests.size());
  const int G = p.cluster.gpus();
  for (std::size_t i = 0; i < homes.size(); ++i) homes[i] = static_cast<std::int32_t>((i * 5 + i / 7) % static_cast<std::size_t>(G));
  mp::TrafficOptions one, two;
  one.threads = 1, two.threads = 2;
  const mp::TrafficReport ref = mp::account_traffic_reference(set, p, homes, one);
  EXPECT_EQ(mp::account_traffic(set, p, homes, one), ref);
  EXPECT_EQ(mp::account_traffic(set, p, homes, two), ref);
  EXPECT_GT(ref.total.inter_node_dedup, 0u);
  EXPECT_GT(ref.total.intra_node_dedup, 0u);
  EXPECT_GT(ref.total.intra_gpu_dedup, 0u);
}

// GPUs of local rank r on nodes [from, to) of a cluster with gpn GPUs per node.
std::vector<int> rail(int gpn, int r, int from, int to) {
  std::vector<int> v;
  for (int n = from; n < to; ++n) v.push_back(n * gpn + r);
  return v;
}

}  // namespace

TEST(TrafficPaths, SixteenNodesAndLargeCandidateCounts) {
  // 16 nodes x 4 GPUs: more than 8 nodes. Experts 0-4 span 13, 11, 7, 5 and 9 nodes, so homes
  // on the other nodes pick among that many candidates: lcm 45045, too large to unroll;
  // expert 5 has three candidates on node 0.
  const mp::Cluster c{16, 4, 1};
  const mp::Placement p = with_replicas(c, 64, 2,
                                        {{0, rail(4, 0, 1, 13)},
                                         {1, rail(4, 1, 1, 11)},
                                         {2, rail(4, 2, 1, 7)},
                                         {3, rail(4, 3, 1, 5)},
                                         {4, rail(4, 1, 2, 10)},
                                         {5, {1, 2, 3}}});
  for (int k : {8, 3}) {
    SCOPED_TRACE(k);
    expect_matches_reference(p, 2, k);
  }
}

TEST(TrafficPaths, EightNodesGenericCandidateLists) {
  // 8 nodes x 8 GPUs (the node histogram). Homes on nodes without them pick among 7 GPUs for
  // expert 1, 5 for expert 2 and 3 for expert 4; expert 3 has 4 candidates on node 0: lcm 420,
  // too large to unroll over 16 layers x 256 experts, so the generic candidate lists are used.
  const mp::Cluster c{8, 8, 1};
  const std::vector<std::pair<int, std::vector<int>>> replicas{
      {1, rail(8, 2, 1, 7)}, {2, rail(8, 3, 1, 5)}, {3, {1, 2, 4}}, {4, rail(8, 5, 1, 3)}};
  expect_matches_reference(with_replicas(c, 256, 16, replicas), 16, 8);
  // With one layer the same placement fits the unrolled table (420 phases).
  expect_matches_reference(with_replicas(c, 256, 1, replicas), 1, 8);
}
