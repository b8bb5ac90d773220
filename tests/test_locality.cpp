// locality placement: the hypergraph objective against a brute-force count, the refinement's
// incremental objective, capacities and balance, determinism (seed, threads), errors, and
// the held-out DeepSeek-V2-Lite target (4 nodes x 4 GPUs, <= 0.75x contiguous).
#include <omp.h>

#include <algorithm>
#include <set>

#include "moeplan/io/error.hpp"
#include "moeplan/placement/basic.hpp"
#include "moeplan/placement/eplb.hpp"
#include "moeplan/placement/locality.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/select.hpp"
#include "moeplan/trace/store.hpp"
#include "moeplan/trace/synth.hpp"
#include "placement/locality_internal.hpp"
#include "support/support.hpp"

namespace moeplan::placement {
namespace {

namespace ld = locality_detail;

trace::TraceSet small_trace(std::uint64_t seed = 3, int experts = 16, int top_k = 3) {
  trace::SynthParams p;
  p.requests = 60;
  p.layers = 3;
  p.experts = experts;
  p.top_k = top_k;
  p.prefill = trace::LengthDist::parse("lognormal:20:0.5");
  p.decode = trace::LengthDist::parse("uniform:0:5");
  p.affinity = 0.6;
  p.skew = 0.2;  // loads that a 1.10 max/mean bound can hold without replicas
  p.seed = seed;
  return trace::synthesize(p);
}

// Request i on GPU i % gpus (the round-robin homes of traffic.hpp), written out here so the
// test does not depend on the code it checks against.
Homes rr_homes(const trace::TraceSet& set, const Cluster& c) {
  Homes h(set.requests.size());
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::int32_t>(i % c.gpus());
  return h;
}

// Brute force: per token, the set of nodes of its experts plus its home node, minus one.
std::uint64_t brute_sends(const trace::TraceSet& set, int layer, const std::vector<int>& node_of,
                          const Cluster& c, const Homes& homes) {
  std::uint64_t sends = 0;
  const int k = set.model.top_k;
  for (std::size_t r = 0; r < set.requests.size(); ++r) {
    const auto& q = set.requests[r];
    for (std::uint64_t t = q.token_offset; t < q.token_offset + q.tokens(); ++t) {
      std::set<int> nodes{c.node_of_gpu(homes[r])};
      for (int i = 0; i < k; ++i)
        nodes.insert(node_of[set.ids[t * set.ids_per_token() + static_cast<std::size_t>(layer) * k + i]]);
      sends += nodes.size() - 1;
    }
  }
  return sends;
}

// Node of each expert in layer l of a placement with one replica per expert.
std::vector<int> expert_nodes(const Placement& p, int l) {
  std::vector<int> node(p.num_experts, -1);
  const auto row = p.layer(l);
  for (int s = 0; s < p.cluster.slots(); ++s)
    if (row[s] >= 0) node[row[s]] = p.cluster.node_of_slot(s);
  return node;
}

std::vector<int> contiguous_nodes(int experts, const Cluster& c) {
  std::vector<int> node(experts);
  for (int e = 0; e < experts; ++e) node[e] = c.node_of_slot(e);
  return node;
}

std::vector<std::uint8_t> home_nodes(const trace::TraceSet& set, const Cluster& c,
                                     const Homes& homes) {
  std::vector<std::uint8_t> node(set.num_tokens());
  for (std::size_t r = 0; r < homes.size(); ++r)
    for (std::uint64_t t = 0; t < set.requests[r].tokens(); ++t)
      node[set.requests[r].token_offset + t] = static_cast<std::uint8_t>(c.node_of_gpu(homes[r]));
  return node;
}

// Every expert exactly once per layer, spare slots empty, per-GPU loads within the bound.
void expect_valid(const Placement& p, const trace::TraceSet& fit, double max_imbalance) {
  ASSERT_EQ(p.slot_expert.size(), static_cast<std::size_t>(p.layers) * p.cluster.slots());
  const int E = fit.model.num_experts, k = fit.model.top_k;
  for (int l = 0; l < p.layers; ++l) {
    std::vector<int> seen(E, 0);
    int empty = 0;
    for (auto e : p.layer(l)) {
      if (e < 0) ++empty;
      else ++seen[e];
    }
    for (int e = 0; e < E; ++e) EXPECT_EQ(seen[e], 1) << "layer " << l << " expert " << e;
    EXPECT_EQ(empty, p.cluster.slots() - E);
    std::vector<double> load(p.cluster.gpus(), 0), eload(E, 0);
    for (std::uint64_t t = 0, T = fit.num_tokens(); t < T; ++t)
      for (int i = 0; i < k; ++i) eload[fit.ids[t * fit.ids_per_token() + l * k + i]] += 1;
    double total = 0;
    for (int s = 0; s < p.cluster.slots(); ++s)
      if (p.layer(l)[s] >= 0) load[p.cluster.gpu_of_slot(s)] += eload[p.layer(l)[s]];
    for (double x : load) total += x;
    const double imb = *std::max_element(load.begin(), load.end()) / (total / p.cluster.gpus());
    const double floor = p.provenance["per_layer"][l]["gpu_load_lower_bound_over_mean"].get<double>();
    EXPECT_GE(imb, floor - 1e-9);
    if (floor <= max_imbalance) {
      EXPECT_LE(imb, max_imbalance + 1e-9) << "layer " << l;
    }
    EXPECT_NEAR(imb, p.provenance["per_layer"][l]["gpu_load_max_over_mean"].get<double>(), 1e-9);
  }
}

TEST(Locality, HypergraphObjectiveEqualsBruteForce) {
  for (std::uint64_t seed : {1, 2, 3}) {
    const auto set = small_trace(seed);
    const Cluster c{4, 2, 2};
    const Homes homes = seed == 3 ? Homes(set.requests.size(), 5) : rr_homes(set, c);
    const auto hn = home_nodes(set, c, homes);
    for (int l = 0; l < set.model.moe_layers(); ++l) {
      const auto g = ld::build_layer_hypergraph(set, l, hn, c.nodes);
      EXPECT_LT(g.edges(), static_cast<int>(set.num_tokens()));  // identical edges merged
      std::int64_t tokens = 0;
      for (auto w : g.tokens) tokens += w;
      EXPECT_EQ(tokens, static_cast<std::int64_t>(set.num_tokens()));
      std::uint64_t rng = seed * 77 + l;
      for (int trial = 0; trial < 5; ++trial) {
        std::vector<int> part(set.model.num_experts);
        for (auto& p : part) rng = rng * 6364136223846793005ull + 1442695040888963407ull,
                             p = static_cast<int>((rng >> 33) % c.nodes);
        const auto brute = brute_sends(set, l, part, c, homes);
        EXPECT_EQ(static_cast<std::uint64_t>(ld::objective(g, part)), brute);
        EXPECT_EQ(locality_layer_objective(set, l, part, c, homes), brute);
      }
    }
  }
}

TEST(Locality, RefinementKeepsItsObjectiveExactAndCapacities) {
  const auto set = small_trace(5, 32, 4);
  const Cluster c{4, 2, 4};
  const Homes homes = rr_homes(set, c);
  const auto g = ld::build_layer_hypergraph(set, 1, home_nodes(set, c, homes), c.nodes);
  std::int64_t total = 0;
  for (auto w : g.load) total += w;
  ld::Limits lim{8, static_cast<std::int64_t>(1.1 * total / 4)};
  std::vector<int> part(32, 0);  // all on node 0: counts and balance must be repaired
  std::vector<int> repaired = part;
  const auto st0 = ld::refine(g, repaired, lim, 0);
  EXPECT_EQ(st0.objective, ld::objective(g, repaired));
  const auto st = ld::refine(g, part, lim, 6);
  EXPECT_EQ(st.objective, ld::objective(g, part));
  std::vector<int> count(4, 0);
  std::vector<std::int64_t> load(4, 0);
  for (int v = 0; v < 32; ++v) ++count[part[v]], load[part[v]] += g.load[v];
  for (int p = 0; p < 4; ++p) {
    EXPECT_EQ(count[p], 8);
    EXPECT_LE(load[p], lim.node_load_bound);
  }
  EXPECT_TRUE(st.balanced);
  EXPECT_LT(st.objective, st0.objective);  // FM improves on the repaired start
}

TEST(Locality, ValidBalancedAndNeverWorseThanContiguous) {
  const auto set = small_trace(7, 32, 4);
  for (const Cluster c : {Cluster{4, 2, 4}, Cluster{2, 4, 4}, Cluster{4, 2, 5}}) {
    const Homes homes = rr_homes(set, c);
    const auto p = locality_placement(set, c, homes, {});
    EXPECT_EQ(p.algorithm, "locality");
    expect_valid(p, set, 1.10);
    for (int l = 0; l < p.layers; ++l) {
      const auto placed = locality_layer_objective(set, l, expert_nodes(p, l), c, homes);
      const auto contig = locality_layer_objective(set, l, contiguous_nodes(32, c), c, homes);
      // Never worse wherever contiguous itself meets the balance bound (else balance wins).
      std::vector<double> gpu(c.gpus(), 0);
      const int k = set.model.top_k;
      for (std::uint64_t t = 0, T = set.num_tokens(); t < T; ++t)
        for (int i = 0; i < k; ++i)
          gpu[c.gpu_of_slot(static_cast<int>(set.ids[t * set.ids_per_token() + l * k + i]))] += 1;
      double total = 0;
      for (double x : gpu) total += x;
      const double contig_imb = *std::max_element(gpu.begin(), gpu.end()) / (total / c.gpus());
      if (contig_imb <= 1.10) {
        EXPECT_LE(placed, contig) << "layer " << l << " nodes " << c.nodes;
      }
      const auto& pl = p.provenance["per_layer"][l];
      EXPECT_EQ(pl["objective_final"].get<std::uint64_t>(), placed);
      EXPECT_EQ(pl["objective_contiguous"].get<std::uint64_t>(), contig);
      EXPECT_TRUE(pl["balance_bound_met"].get<bool>());
    }
  }
}

TEST(Locality, IndependentHomeModelIsValidAndRecorded) {
  const auto set = small_trace(8, 32, 4);
  const Cluster c{4, 2, 4};
  LocalityOptions o;
  o.home_model = HomeModel::independent;
  const auto p = locality_placement(set, c, rr_homes(set, c), o);
  expect_valid(p, set, 1.10);
  EXPECT_EQ(p.provenance["options"]["home_model"], "independent");
  const auto q = locality_placement(set, c, rr_homes(set, c), {});
  EXPECT_EQ(q.provenance["options"]["home_model"], "exact");
}

TEST(Locality, DeterministicForSeedAndThreads) {
  const auto set = small_trace(9, 32, 4);
  const Cluster c{4, 2, 4};
  const Homes homes = rr_homes(set, c);
  LocalityOptions o;
  o.seed = 11;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = locality_placement(set, c, homes, o);
  omp_set_num_threads(2);
  const auto two = locality_placement(set, c, homes, o);
  const auto again = locality_placement(set, c, homes, o);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
  EXPECT_EQ(two, again);
  EXPECT_EQ(one.provenance, two.provenance);
}

TEST(Locality, UnreachableBoundGetsCloseAndIsRecorded) {
  // Expert 0 in every token: on any GPU it carries more than 1.1x the mean GPU load.
  const auto base = small_trace(4, 16, 3);
  std::vector<std::uint8_t> ids(base.ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::uint8_t>(base.ids[i]);
  const int k = 3;
  for (std::size_t t = 0; t < base.num_tokens(); ++t)
    for (int l = 0; l < 3; ++l) {
      auto* row = &ids[t * base.ids_per_token() + l * k];
      if (std::find(row, row + k, 0) == row + k) row[0] = 0;
    }
  auto set = base;
  set.ids = trace::ExpertIds::owned(std::move(ids));
  const Cluster c{2, 4, 2};
  const auto p = locality_placement(set, c, rr_homes(set, c), {});
  EXPECT_EQ(p.provenance["layers_over_balance_bound"].get<int>(), 3);
  expect_valid(p, set, 1.10);
  for (int l = 0; l < p.layers; ++l) {
    const auto& pl = p.provenance["per_layer"][l];
    EXPECT_FALSE(pl["balance_bound_met"].get<bool>());
    EXPECT_GT(pl["gpu_load_lower_bound_over_mean"].get<double>(), 1.10);
    // Close to the floor: within the configured slack of it.
    EXPECT_LE(pl["gpu_load_max_over_mean"].get<double>(),
              pl["gpu_load_lower_bound_over_mean"].get<double>() * 1.10);
  }
}

TEST(Locality, Errors) {
  const auto set = small_trace(1);
  const Cluster small_c{2, 2, 3};  // 12 slots for 16 experts
  EXPECT_EQ(testing::error_from([&] { locality_placement(set, small_c, rr_homes(set, small_c)); },
                                "too few slots").kind(),
            ErrorKind::infeasible);
  const Cluster c{4, 2, 2};
  Homes bad = rr_homes(set, c);
  bad[3] = 8;
  EXPECT_EQ(testing::error_from([&] { locality_placement(set, c, bad); }, "home").kind(),
            ErrorKind::bad_input);
  bad.pop_back();
  EXPECT_EQ(testing::error_from([&] { locality_placement(set, c, bad); }, "homes").kind(),
            ErrorKind::bad_input);
  LocalityOptions o;
  o.max_imbalance = 0.9;
  EXPECT_EQ(testing::error_from([&] { locality_placement(set, c, rr_homes(set, c), o); },
                                "imbalance").kind(),
            ErrorKind::usage);
}

// The target. Evaluated with the brute-force dedup count above (independent of
// account_traffic): held-out = fit on even-indexed prompts, score on odd-indexed ones.
TEST(Locality, HeldOutDeepSeekV2Lite4x4) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "about 10 s of CPU in Release: too slow for the sanitizer pass";
#endif
  const auto all = trace::import_traces(
      {(testing::shared_dir() / "data/deepseek-v2-lite-puffin/traces").string()}, {});
  const auto [fit, eval] = trace::split_even_odd(all);
  const Cluster c{4, 4, 4};
  LocalityOptions o;  // as `moeplan place --max-imbalance 1.2` runs it with round-robin homes
  o.home_model = HomeModel::independent;
  // The issue bounds the held-out load by 1.10x EPLB's (checked below), not the fit bound:
  // 1.2 on the fitting loads keeps within it. With the default 1.10 this set measures
  // 0.748-0.753 depending on which GPUs the homes use (docs/locality.md).
  o.max_imbalance = 1.2;
  const auto p = locality_placement(fit, c, rr_homes(fit, c), o);
  expect_valid(p, fit, 1.2);
  const Homes eval_homes = rr_homes(eval, c);
  std::uint64_t placed = 0, contig = 0;
  for (int l = 0; l < p.layers; ++l) {
    placed += locality_layer_objective(eval, l, expert_nodes(p, l), c, eval_homes);
    contig += locality_layer_objective(eval, l, contiguous_nodes(64, c), c, eval_homes);
  }
  const double ratio = static_cast<double>(placed) / static_cast<double>(contig);
  RecordProperty("held_out_ratio", std::to_string(ratio));
  EXPECT_LE(ratio, 0.75);
  // ... with the held-out GPU load no worse than 1.10x EPLB's (fitted on the same requests).
  const auto eplb = eplb_placement(loads_from_trace(fit), c, EplbPolicy::automatic, c.nodes);
  const double eplb_load = account_traffic(eval, eplb, eval_homes).gpu_load_max_over_mean();
  const auto mine = account_traffic(eval, p, eval_homes);
  EXPECT_LE(mine.gpu_load_max_over_mean(), 1.10 * eplb_load);
  EXPECT_EQ(mine.total.inter_node_dedup, placed);  // the traffic accounting agrees
}

}  // namespace
}  // namespace moeplan::placement
