// Hand-computed cases for every analysis metric, on tiny traces built in code.
#include <omp.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "analysis/stats.hpp"
#include "moeplan/analysis/report.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace moeplan::analysis {
namespace {

struct Req {
  std::uint32_t prefill, decode;
  std::vector<std::uint16_t> ids;  // [token][layer][k]
  std::string domain = "d";
};

trace::TraceSet make_set(int layers, int experts, int k, const std::vector<Req>& reqs) {
  trace::ParsedFile f;
  for (int l = 0; l < layers; ++l) f.model.moe_layer_ids.push_back(l);
  f.model.num_experts = experts;
  f.model.top_k = k;
  int i = 0;
  for (const Req& r : reqs) {
    trace::RequestRouting q;
    q.id = std::to_string(i++);
    q.domain = r.domain;
    q.prefill_tokens = r.prefill;
    q.decode_tokens = r.decode;
    q.ids = r.ids;
    f.requests.push_back(q);
  }
  std::vector<trace::ParsedFile> files{f};
  return trace::assemble(std::move(files), {});
}

TEST(AnalysisCounts, Basic) {
  auto set = make_set(2, 4, 1, {{2, 1, {0, 1, 2, 3, 1, 1}}, {1, 0, {3, 3}}});
  Counts c = compute_counts(set);
  EXPECT_EQ(c.requests, 2u);
  EXPECT_EQ(c.prefill_tokens, 3u);
  EXPECT_EQ(c.decode_tokens, 1u);
  EXPECT_EQ(c.moe_layers, 2);
  EXPECT_EQ(c.experts, 4);
  EXPECT_EQ(c.top_k, 1);
}

TEST(AnalysisLoads, PerPhaseMatrices) {
  // Layer 0: prefill 0,2; decode 2. Layer 1: prefill 1,3; decode 3.
  auto set = make_set(2, 4, 1, {{2, 1, {0, 1, 2, 3, 2, 3}}});
  PhaseLoads p = compute_loads(set);
  EXPECT_EQ(p.prefill.counts, (std::vector<std::uint64_t>{1, 0, 1, 0, 0, 1, 0, 1}));
  EXPECT_EQ(p.decode.counts, (std::vector<std::uint64_t>{0, 0, 1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(p.all.counts, (std::vector<std::uint64_t>{1, 0, 2, 0, 0, 1, 0, 2}));
}

TEST(AnalysisImbalance, HandComputedLayer) {
  // Loads [1, 1, 2, 4] over E = 4: mean 2.
  auto set = make_set(1, 4, 1, {{8, 0, {0, 1, 2, 2, 3, 3, 3, 3}}});
  Imbalance m = compute_imbalance(compute_loads(set).all);
  ASSERT_EQ(m.max_over_mean.size(), 1u);
  EXPECT_DOUBLE_EQ(m.max_over_mean[0], 2.0);
  EXPECT_DOUBLE_EQ(m.cv[0], std::sqrt(24.0) / 8.0);   // sqrt(E*Q - S^2) / S, Q = 22
  EXPECT_DOUBLE_EQ(m.gini[0], 10.0 / 32.0);            // (2*25 - 5*8) / (4*8)
  EXPECT_NEAR(m.norm_entropy[0], 0.875, 1e-15);         // 1.75 ln2 / ln4
  EXPECT_TRUE(m.hot_experts.empty());
  EXPECT_DOUBLE_EQ(m.max_over_mean_mean, 2.0);
}

TEST(AnalysisImbalance, UniformAndHotExperts) {
  // Layer 0 uniform over 32 experts; layer 1: 20 tokens on expert 3, 12 spread -> hot.
  std::vector<std::uint16_t> ids;
  for (int t = 0; t < 32; ++t) {
    ids.push_back(static_cast<std::uint16_t>(t));
    ids.push_back(static_cast<std::uint16_t>(t < 20 ? 3 : t));
  }
  auto set = make_set(2, 32, 1, {{32, 0, ids}});
  Imbalance m = compute_imbalance(compute_loads(set).all);
  EXPECT_DOUBLE_EQ(m.max_over_mean[0], 1.0);
  EXPECT_DOUBLE_EQ(m.cv[0], 0.0);
  EXPECT_DOUBLE_EQ(m.gini[0], 0.0);
  EXPECT_NEAR(m.norm_entropy[0], 1.0, 1e-15);
  ASSERT_EQ(m.hot_experts.size(), 1u);  // 20 > 16 * 1 (mean 1); the others hold 1
  EXPECT_EQ(m.hot_experts[0].layer_index, 1);
  EXPECT_EQ(m.hot_experts[0].expert, 3);
  EXPECT_DOUBLE_EQ(m.hot_experts[0].load_over_mean, 20.0);
  EXPECT_DOUBLE_EQ(m.max_over_mean_mean, 10.5);
}

TEST(AnalysisImbalance, HotIsStrict) {
  // Exactly 16 x mean is not hot: E = 32, 32 tokens, 16 on expert 0.
  std::vector<std::uint16_t> ids;
  for (int t = 0; t < 32; ++t) ids.push_back(static_cast<std::uint16_t>(t < 16 ? 0 : t));
  auto set = make_set(1, 32, 1, {{32, 0, ids}});
  EXPECT_TRUE(compute_imbalance(compute_loads(set).all).hot_experts.empty());
}

TEST(AnalysisStats, AverageRanksAndTopIds) {
  std::vector<std::uint64_t> v{3, 1, 1, 0};
  EXPECT_EQ(detail::doubled_average_ranks(v), (std::vector<std::int64_t>{8, 5, 5, 2}));
  std::vector<std::uint64_t> w{5, 7, 7, 0, 5};
  EXPECT_EQ(detail::top_ids(w, 3), (std::vector<int>{1, 2, 0}));
}

TEST(AnalysisPrefillDecode, SpearmanPearsonHandComputed) {
  // One layer, E = 4: prefill loads x = [3,1,1,0], decode loads y = [2,2,0,1].
  auto set = make_set(1, 4, 1, {{5, 5, {0, 0, 0, 1, 2, 0, 0, 1, 1, 3}}});
  PrefillDecode m = compute_prefill_decode(set, compute_loads(set));
  ASSERT_TRUE(m.spearman[0] && m.pearson[0]);
  EXPECT_NEAR(*m.spearman[0], 0.5, 1e-15);  // ranks [4,2.5,2.5,1] vs [3.5,3.5,1,2]
  EXPECT_NEAR(*m.pearson[0], 1.75 / std::sqrt(4.75 * 2.75), 1e-15);
  EXPECT_NEAR(*m.spearman_mean, 0.5, 1e-15);
  // The request's own vectors are the same two: one request used.
  EXPECT_EQ(m.per_request_pearson_used, 1u);
  EXPECT_NEAR(*m.per_request_pearson_mean, *m.pearson[0], 1e-15);
}

TEST(AnalysisPrefillDecode, ConstantVectorIsNull) {
  // Layer 0: prefill [1,1] constant -> null. Layer 1: prefill [2,0], decode [1,1] -> null too.
  auto set = make_set(2, 2, 1, {{2, 2, {0, 0, 1, 0, 0, 1, 1, 0}}});
  PrefillDecode m = compute_prefill_decode(set, compute_loads(set));
  EXPECT_FALSE(m.spearman[0]);
  EXPECT_FALSE(m.pearson[0]);
  EXPECT_FALSE(m.spearman[1]);
  EXPECT_FALSE(m.spearman_mean);
  // Concatenated request vectors: x = [1,1,2,0], y = [1,1,1,1] (constant) -> not used.
  EXPECT_EQ(m.per_request_pearson_used, 0u);
  EXPECT_FALSE(m.per_request_pearson_mean);
  auto j = to_json(m);
  EXPECT_TRUE(j["spearman"][0].is_null());
  EXPECT_TRUE(j["spearman_mean"].is_null());
}

TEST(AnalysisPrefillDecode, PerRequestPearsonConcatenatesLayers) {
  // Two layers, E = 2. Request 0: prefill token (0,1), decode tokens (0,0), (1,1).
  // x = [1,0 | 0,1], y = [1,1 | 1,1] is constant -> skipped. Request 1: prefill (0,0),
  // decode (0,1): x = [1,0,1,0], y = [1,0,0,1] -> r = 0. Request 2 has no decode.
  auto set = make_set(2, 2, 1,
                      {{1, 2, {0, 1, 0, 0, 1, 1}}, {1, 1, {0, 0, 0, 1}}, {1, 0, {1, 1}}});
  PrefillDecode m = compute_prefill_decode(set, compute_loads(set));
  EXPECT_EQ(m.per_request_pearson_used, 1u);
  EXPECT_NEAR(*m.per_request_pearson_mean, 0.0, 1e-15);
}

TEST(AnalysisPrefillDecode, TopKOverlapTiesToLowerId) {
  // E = 24. Prefill: experts 0..4 twice each; decode: experts 3..7 twice each.
  std::vector<std::uint16_t> ids;
  for (int e = 0; e < 5; ++e) ids.insert(ids.end(), 2, static_cast<std::uint16_t>(e));
  for (int e = 3; e < 8; ++e) ids.insert(ids.end(), 2, static_cast<std::uint16_t>(e));
  auto set = make_set(1, 24, 1, {{10, 10, ids}});
  PrefillDecode m = compare_phase_loads(compute_loads(set));
  EXPECT_DOUBLE_EQ(m.topk_overlap[0][0], 0.4);  // {0..4} vs {3..7}
  EXPECT_DOUBLE_EQ(m.topk_overlap[1][0], 1.0);  // zeros fill by lower id: both {0..9}
  EXPECT_DOUBLE_EQ(m.topk_overlap[2][0], 1.0);
}

TEST(AnalysisCoverage, LayerAndTokenTop1) {
  // E = 5 -> top floor(0.2*5) = 1 entry per row. Request 0 tokens (l0,l1): (0,1) (0,1) (0,2)
  // (3,4); request 1 one token (4,4).
  auto set = make_set(2, 5, 1, {{4, 0, {0, 1, 0, 1, 0, 2, 3, 4}}, {1, 0, {4, 4}}});
  Coverage c = compute_coverage(set);
  ASSERT_EQ(c.layer_pairs.size(), 1u);
  EXPECT_DOUBLE_EQ(c.layer_pairs[0], 4.0 / 5.0);  // rows 0:[0,2,1,0,0] 3:[..1] 4:[..1]
  ASSERT_EQ(c.token_layers.size(), 2u);
  EXPECT_DOUBLE_EQ(c.token_layers[0], 2.0 / 3.0);  // (0,0) (0,0) (0,3); none across requests
  EXPECT_DOUBLE_EQ(c.token_layers[1], 2.0 / 3.0);  // (1,1) (1,2) (2,4)
  EXPECT_DOUBLE_EQ(c.token_mean, 2.0 / 3.0);
}

TEST(AnalysisCoverage, AllKxKPairsAndPhaseBoundary) {
  // k = 2, E = 5. Token 0 (prefill): l0 {0,1}, l1 {2,3}; token 1 (decode): l0 {0,4}, l1 {2,3}.
  auto set = make_set(2, 5, 2, {{1, 1, {0, 1, 2, 3, 0, 4, 2, 3}}});
  Coverage c = compute_coverage(set);
  // Layer pair: rows 0:[0,0,2,2,0] 1:[0,0,1,1,0] 4:[0,0,1,1,0] -> (2+1+1)/8.
  EXPECT_DOUBLE_EQ(c.layer_pairs[0], 0.5);
  // Tokens at l0 (prefill -> decode counts): rows 0:[1,0,0,0,1] 1:[1,0,0,0,1] -> 2/4.
  EXPECT_DOUBLE_EQ(c.token_layers[0], 0.5);
  // l1: rows 2:[0,0,1,1,0] 3:[0,0,1,1,0] -> 2/4.
  EXPECT_DOUBLE_EQ(c.token_layers[1], 0.5);
}

// A pseudo-random trace big enough to span several coverage blocks and threads.
trace::TraceSet random_set() {
  std::vector<Req> reqs;
  std::uint64_t s = 12345;
  auto next = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return s >> 33; };
  for (int r = 0; r < 300; ++r) {
    Req q{static_cast<std::uint32_t>(1 + next() % 40), static_cast<std::uint32_t>(next() % 30), {},
          r % 3 ? "a" : "b"};
    for (std::uint32_t t = 0; t < q.prefill + q.decode; ++t)
      for (int l = 0; l < 3; ++l) {
        // Two distinct ids per token-layer, skewed toward low ids.
        auto a = static_cast<std::uint16_t>((next() % 16) * (next() % 16) / 16);
        auto b = static_cast<std::uint16_t>((a + 1 + next() % 15) % 16);
        q.ids.push_back(a);
        q.ids.push_back(b);
      }
    reqs.push_back(q);
  }
  return make_set(3, 16, 2, reqs);
}

TEST(AnalysisReport, IdenticalForAnyThreadCount) {
  auto set = random_set();
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  std::string one = to_json(analyze(set)).dump();
  omp_set_num_threads(3);
  std::string three = to_json(analyze(set)).dump();
  omp_set_num_threads(saved);
  EXPECT_EQ(one, three);
}

TEST(AnalysisReport, JsonStructureAndPhaseOption) {
  auto set = random_set();
  auto j = to_json(analyze(set));
  for (const char* k : {"counts", "imbalance", "prefill_decode", "layer_coverage_top20", "token_coverage_top20"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (const char* p : {"prefill", "decode", "all"}) EXPECT_TRUE(j["imbalance"].contains(p)) << p;
  EXPECT_EQ(j["layer_coverage_top20"]["per_pair"].size(), 2u);
  EXPECT_EQ(j["token_coverage_top20"]["per_layer"].size(), 3u);
  EXPECT_TRUE(j["prefill_decode"].contains("topk_overlap@20_mean"));

  auto only = to_json(analyze(set, {PhaseSel::decode}));
  EXPECT_EQ(only["imbalance"].size(), 1u);
  EXPECT_TRUE(only["imbalance"].contains("decode"));
}

TEST(AnalysisReport, NoDecodeOmitsDecodeAndPrefillDecode) {
  auto set = make_set(1, 4, 1, {{4, 0, {0, 1, 2, 3}}});
  auto j = to_json(analyze(set));
  EXPECT_FALSE(j["imbalance"].contains("decode"));
  EXPECT_TRUE(j["imbalance"].contains("prefill"));
  EXPECT_FALSE(j.contains("prefill_decode"));
}

TEST(AnalysisCli, JsonAndSummary) {
  testing::TempDir dir;
  std::string path = dir.file("t.moet");
  trace::save_moet(random_set(), path);
  auto r = testing::run_cli({"analyze", path, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["counts"]["requests"], 300);
  auto s = testing::run_cli({"analyze", path, "--phase", "prefill"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("imbalance"), std::string::npos);
  EXPECT_NE(testing::run_cli({"analyze", path, "--phase", "bogus"}).exit_code, 0);
}

TEST(AnalysisReport, ReportsProgressOncePerPass) {
  auto set = make_set(2, 4, 2, {{2, 1, {0, 1, 2, 3, 1, 2, 0, 3, 2, 1, 3, 0}}});
  ReportOptions opt;
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  opt.progress = [&](std::size_t done, std::size_t total) { calls.emplace_back(done, total); };
  Report r = analyze(set, opt);
  ASSERT_EQ(calls.size(), 6u);
  for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i], std::make_pair(i + 1, std::size_t{6}));
  EXPECT_TRUE(r.coactivation.has_value());  // progress does not change what is computed
}

}  // namespace
}  // namespace moeplan::analysis
