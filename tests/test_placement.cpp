// Placement model, baselines, files and engine exports, replication and migration: hand
// cases, invariants and round trips.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "moeplan/placement/basic.hpp"
#include "moeplan/placement/migrate.hpp"
#include "moeplan/placement/placement.hpp"
#include "moeplan/placement/replicate.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/select.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

using namespace moeplan;
using namespace moeplan::placement;
namespace mt = moeplan::testing;

namespace {

// GPU of each expert in layer l (experts placed once).
std::vector<int> gpus_of(const Placement& p, int l) {
  std::vector<int> g(p.num_experts, -1);
  auto row = p.layer(l);
  for (int s = 0; s < p.cluster.slots(); ++s)
    if (row[s] >= 0) g[row[s]] = p.cluster.gpu_of_slot(s);
  return g;
}

// A trace of `tokens` one-token requests with the given ids per token ([token][layer][k]).
trace::TraceSet tiny_trace(int experts, int layers, int k, const std::vector<std::uint8_t>& ids) {
  trace::TraceSet set;
  set.model.num_experts = experts;
  set.model.top_k = k;
  for (int l = 0; l < layers; ++l) set.model.moe_layer_ids.push_back(l);
  set.domains = {"d"};
  const std::size_t tokens = ids.size() / (static_cast<std::size_t>(layers) * k);
  for (std::size_t t = 0; t < tokens; ++t) {
    trace::Request r;
    r.id = "r" + std::to_string(t);
    r.token_offset = t;
    r.prefill_tokens = 1;
    set.requests.push_back(r);
  }
  set.ids = trace::ExpertIds::owned(std::vector<std::uint8_t>(ids));
  set.check("tiny");
  return set;
}

int exit_code_of(const Error& e) { return moeplan::exit_code(e.kind()); }

trace::TraceSet sample() {
  return trace::load_moet((mt::source_dir() / "data/samples/deepseek-v2-lite-puffin-40.moet").string());
}

}  // namespace

TEST(Placement, ClusterChecks) {
  EXPECT_EQ(min_slots_per_gpu(64, 4, 4), 4);
  EXPECT_EQ(min_slots_per_gpu(65, 4, 4), 5);
  EXPECT_EQ(exit_code_of(mt::error_from([] { check_cluster({2, 2, 1}, 5); }, "too few")), 4);
  EXPECT_EQ(exit_code_of(mt::error_from([] { check_cluster({0, 2, 1}, 1); }, "zero")), 2);
}

TEST(Placement, ContiguousAndRoundRobinByHand) {
  const Cluster c{2, 2, 2};  // 4 GPUs, 8 slots
  Placement p = contiguous_placement(c, 8, 3);
  p.check("contiguous");
  EXPECT_EQ(gpus_of(p, 2), (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3}));
  Placement r = round_robin_placement(c, 8, 1);
  EXPECT_EQ(gpus_of(r, 0), (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
  // 6 experts on 8 slots: floor(e * 4 / 6) = 0,0,1,2,2,3; two slots stay empty.
  Placement q = contiguous_placement(c, 6, 1);
  q.check("spare");
  EXPECT_EQ(gpus_of(q, 0), (std::vector<int>{0, 0, 1, 2, 2, 3}));
  EXPECT_EQ(std::count(q.slot_expert.begin(), q.slot_expert.end(), -1), 2);
}

TEST(Placement, RandomIsSeededPermutation) {
  const Cluster c{2, 4, 2};
  Placement a = random_placement(c, 16, 4, 7), b = random_placement(c, 16, 4, 7), d = random_placement(c, 16, 4, 8);
  a.check("random");
  EXPECT_EQ(a, b);
  EXPECT_NE(a.slot_expert, d.slot_expert);
  for (int l = 0; l < 4; ++l) {
    auto row = a.layer(l);
    std::set<int> seen(row.begin(), row.end());
    EXPECT_EQ(seen.size(), 16u);
  }
}

TEST(Placement, GreedyByHand) {
  // Loads 10, 9, 1, 1 / 2 GPUs x 2 slots: 10 -> g0, 9 -> g1, 1 -> g1 (9 < 10), 1 -> g0 (10 = 10, lower).
  ExpertLoads w{1, 4, {10, 9, 1, 1}};
  Placement p = greedy_placement(w, {1, 2, 2});
  EXPECT_EQ(gpus_of(p, 0), (std::vector<int>{0, 1, 1, 0}));
  // Capacity binds: loads 8,1,1,1 on 2 x 2 slots: 8 -> g0, then g1, g1, and the last must go to g0.
  ExpertLoads v{1, 4, {8, 1, 1, 1}};
  EXPECT_EQ(gpus_of(greedy_placement(v, {1, 2, 2}), 0), (std::vector<int>{0, 1, 1, 0}));
}

TEST(Placement, JsonAndEngineRoundTrips) {
  const Cluster c{2, 2, 3};  // 12 slots for 10 experts
  Placement p = random_placement(c, 10, 3, 1);
  p.moe_layer_ids = {1, 2, 4};
  p.model_layers = 5;
  EXPECT_EQ(exit_code_of(mt::error_from([&] { (void)to_sglang(p); }, "empty slots")), 4);
  trace::TraceSet t = tiny_trace(10, 3, 1, std::vector<std::uint8_t>(30, 3));
  fill_spare_slots(p, t, round_robin_homes(t, c));
  p.check("filled");
  EXPECT_EQ(placement_from_json(to_json(p), "rt"), p);

  mt::TempDir tmp;
  write_placement(tmp.file("p.json"), p);
  EXPECT_EQ(read_placement(tmp.file("p.json")), p);

  // SGLang: one row per model layer; dense layers 0 and 3 get identity rows.
  const auto sg = to_sglang(p);
  ASSERT_EQ(sg["physical_to_logical_map"].size(), 5u);
  EXPECT_EQ(sg["physical_to_logical_map"][0][11], 1);  // 11 % 10
  Placement back = from_sglang(sg, c, 10, "sg");
  for (int L : {1, 2, 4}) {
    auto a = back.layer(L), b = p.layer(L == 4 ? 2 : L - 1);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  }
  // TensorRT-LLM YAML keyed by the model's layer index.
  const std::string y = to_trtllm_yaml(p);
  EXPECT_NE(y.find("num_slots: 12"), std::string::npos);
  EXPECT_NE(y.find("  4: ["), std::string::npos);
  Placement ty = from_trtllm_yaml(y, c, 10, "y");
  EXPECT_EQ(ty.moe_layer_ids, p.moe_layer_ids);
  EXPECT_EQ(ty.slot_expert, p.slot_expert);
}

TEST(Placement, CheckNamesLayerAndField) {
  Placement p = contiguous_placement({1, 2, 2}, 4, 2);
  p.layer(1)[3] = 2;  // expert 3 gone, 2 twice
  const Error e = mt::error_from([&] { p.check("p.json"); }, "unplaced");
  EXPECT_EQ(std::string(e.what()), "p.json: layer 1: field \"slot_expert\": expert 3 has no slot");
}

TEST(Replication, GoesWhereRemoteDemandIs) {
  // 2 nodes x 1 GPU x 3 slots, 4 experts: contiguous puts 0,1 on node 0 and 2,3 on node 1.
  // Requests r0, r2, r4 (homes on node 0) use expert 3 (twice) and 2 (once); r1, r3 (node 1)
  // use expert 0 once each. Node 0's spare slot takes 3 (demand 2); node 1's takes 0 (demand 2).
  trace::TraceSet t = tiny_trace(4, 1, 1, {3, 0, 3, 0, 2});
  const Cluster c{2, 1, 3};
  Placement p = contiguous_placement(c, 4, 1);
  const auto added = fill_spare_slots(p, t, round_robin_homes(t, c));
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0].expert, 3);
  EXPECT_EQ(added[0].gpu, 0);
  EXPECT_EQ(added[0].remote_demand, 2u);
  EXPECT_EQ(added[1].expert, 0);
  EXPECT_EQ(added[1].gpu, 1);
  EXPECT_EQ(added[1].remote_demand, 2u);
  EXPECT_EQ(p.replicas(0, 3), 2);
  // After replication only r4's choice of expert 2 (demand 1, no slot left) leaves its node.
  const auto rep = account_traffic(t, p, round_robin_homes(t, c));
  EXPECT_EQ(rep.total.sends_inter_node, 1u);
}

TEST(Replication, SameForAnyThreadCount) {
  trace::TraceSet t = sample();
  const Cluster c{2, 4, 9};  // 72 slots for 64 experts
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Placement p = greedy_placement(loads_from_trace(t), c);
    fill_spare_slots(p, t, round_robin_homes(t, c));
    return p;
  };
  const Placement one = run(1), two = run(2);
  omp_set_num_threads(2);
  EXPECT_EQ(one, two);
  one.check("replicated");
  EXPECT_EQ(std::count(one.slot_expert.begin(), one.slot_expert.end(), -1), 0);
}

TEST(Migration, RelabellingIsFreeAndMoveCostKeepsExperts) {
  trace::TraceSet t = sample();
  const Cluster c{2, 2, 16};
  const Placement prev = contiguous_placement(c, 64, t.model.moe_layers());
  // The same layout with GPUs 0 and 1 swapped and slots reversed: zero real moves.
  Placement relabelled = prev;
  for (int l = 0; l < prev.layers; ++l) {
    auto row = relabelled.layer(l);
    std::rotate(row.begin(), row.begin() + 16, row.begin() + 32);
    std::reverse(row.begin(), row.begin() + 16);
  }
  const auto homes = round_robin_homes(t, c);
  auto rep = reduce_moves(relabelled, prev, t, homes, 0);
  EXPECT_GT(rep.moved_before, 0);
  EXPECT_EQ(rep.experts_moved, 0);
  EXPECT_EQ(relabelled, prev);

  // A random layout moves most experts; an enormous move cost undoes moves without ever
  // raising a layer's busiest GPU, a zero cost undoes none.
  Placement fresh = random_placement(c, 64, t.model.moe_layers(), 3);
  Placement costly = fresh;
  const auto free_rep = reduce_moves(fresh, prev, t, homes, 0);
  const auto cost_rep = reduce_moves(costly, prev, t, homes, 1e12);
  EXPECT_EQ(free_rep.moves_undone, 0);
  EXPECT_GT(cost_rep.moves_undone, 0);
  EXPECT_LT(cost_rep.experts_moved, free_rep.experts_moved);
  EXPECT_EQ(cost_rep.experts_moved, free_rep.experts_moved - cost_rep.moves_undone);
  costly.check("migrated");
  // The reported added sends are exact: the traffic difference on the fitting trace.
  const auto before = account_traffic(t, fresh, homes), after = account_traffic(t, costly, homes);
  EXPECT_EQ(static_cast<std::int64_t>(after.total.inter_node_dedup) - static_cast<std::int64_t>(before.total.inter_node_dedup),
            cost_rep.sends_added);
  const auto lf = loads_from_trace(t);
  for (int l = 0; l < costly.layers; ++l) {
    auto max_load = [&](const Placement& p) {
      std::vector<double> g(c.gpus(), 0);
      const auto gp = gpus_of(p, l);
      for (int e = 0; e < 64; ++e) g[gp[e]] += lf.layer(l)[e];
      return *std::max_element(g.begin(), g.end());
    };
    EXPECT_LE(max_load(costly), max_load(fresh)) << "layer " << l;
  }
}

TEST(Select, EvenOddSplitKeepsEveryToken) {
  trace::TraceSet t = sample();
  auto [even, odd] = trace::split_even_odd(t);
  even.check("even");
  odd.check("odd");
  EXPECT_EQ(even.requests.size() + odd.requests.size(), t.requests.size());
  EXPECT_EQ(even.num_tokens() + odd.num_tokens(), t.num_tokens());
  EXPECT_EQ(odd.requests[0].id, t.requests[1].id);
  // Request 3 of the set is odd's second request: same routing, byte for byte.
  const std::size_t per = t.ids_per_token();
  for (std::size_t i = 0; i < t.requests[3].tokens() * per; ++i)
    ASSERT_EQ(odd.ids[odd.requests[1].token_offset * per + i], t.ids[t.requests[3].token_offset * per + i]);
  EXPECT_EQ(exit_code_of(mt::error_from([&] {
              const std::size_t bad[] = {0, 0};
              (void)trace::select_requests(t, bad);
            }, "repeat")),
            2);
}
