// Co-activation, domain separation, layer selection and the matrix outputs: hand-computed
// cases on tiny traces built in code, and the CLI options around them.
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "moeplan/analysis/layers.hpp"
#include "moeplan/analysis/matrices.hpp"
#include "moeplan/analysis/report.hpp"
#include "moeplan/io/error.hpp"
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
  for (int l = 0; l < layers; ++l) f.model.moe_layer_ids.push_back(2 * l + 1);
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

TEST(AnalysisCoactivation, HandComputed) {
  // E = 5: 10 pairs, top floor(1.0) = 1. Layer 0 sets {0,1} x3, {2,3}, {4,1}: pair {0,1}
  // holds 3 of 5. Layer 1: five distinct pairs, one each.
  auto set = make_set(2, 5, 2, {{5, 0, {0, 1, 0, 1, 1, 0, 0, 2, 0, 1, 0, 3, 2, 3, 0, 4, 4, 1, 1, 2}}});
  Coactivation c = compute_coactivation(set);
  ASSERT_EQ(c.top10_pair_share.size(), 2u);
  EXPECT_DOUBLE_EQ(c.top10_pair_share[0], 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(c.max_lift[0], 3.0 * 10 / 5);  // max / (total * 2 / (E(E-1)))
  EXPECT_DOUBLE_EQ(c.top10_pair_share[1], 1.0 / 5.0);
  EXPECT_DOUBLE_EQ(c.max_lift[1], 2.0);
  EXPECT_DOUBLE_EQ(c.top10_pair_share_mean, 0.4);
  EXPECT_DOUBLE_EQ(c.max_lift_mean, 4.0);
  // The pair counts: {0,1} is counted whatever the order inside the set.
  auto pairs = count_pairs(set, 0);
  ASSERT_EQ(pairs.size(), 10u);
  EXPECT_EQ(pairs[pair_index(5, 0, 1)], 3u);
  EXPECT_EQ(pairs[pair_index(5, 1, 4)], 1u);
  EXPECT_EQ(pairs[pair_index(5, 3, 4)], 0u);
  EXPECT_EQ(pair_index(5, 3, 4), 9u);  // the last cell
}

TEST(AnalysisCoactivation, AbsentForTopOne) {
  auto set = make_set(1, 4, 1, {{4, 0, {0, 1, 2, 3}}});
  auto j = to_json(analyze(set));
  EXPECT_FALSE(j.contains("coactivation"));
  EXPECT_FALSE(j.contains("domains"));  // one domain
}

double js_reference(std::vector<double> p, std::vector<double> q) {
  double s = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    double m = (p[i] + q[i]) / 2;
    if (p[i] > 0) s += 0.5 * p[i] * std::log2(p[i] / m);
    if (q[i] > 0) s += 0.5 * q[i] * std::log2(q[i] / m);
  }
  return s;
}

TEST(AnalysisDomains, JsDivergenceHandComputed) {
  // Layer 0: a = (1, 0), b = (0.5, 0.5); layer 1: a = b = (0, 1).
  auto set = make_set(2, 2, 1, {{1, 0, {0, 1}, "b"}, {1, 0, {1, 1}, "b"}, {2, 0, {0, 1, 0, 1}, "a"}});
  Domains d = compute_domains(set);
  ASSERT_EQ(d.labels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.requests, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_NEAR(d.js_divergence[0][1], js_reference({1, 0}, {0.5, 0.5}) / 2, 1e-15);
  auto j = to_json(d);
  EXPECT_NEAR(j["js_divergence"]["a|b"].get<double>(), d.js_divergence[0][1], 0);
  EXPECT_EQ(j["requests_per_domain"]["b"], 2);
}

TEST(AnalysisDomains, DisjointDomainsOneBit) {
  auto set = make_set(1, 2, 1, {{1, 0, {0}, "x"}, {1, 0, {1}, "y"}});
  EXPECT_DOUBLE_EQ(compute_domains(set).js_divergence[0][1], 1.0);
}

TEST(AnalysisDomains, LeaveOneOutNearestCentroid) {
  // a: two requests on expert 0; b: two on expert 1 and one on expert 0. The odd b request
  // sees centroid a = (1,0) (cos 1) and b-without-it = (0,1) (cos 0): wrong. The rest are right.
  auto set = make_set(1, 2, 1,
                      {{2, 0, {0, 0}, "a"}, {1, 1, {0, 0}, "a"}, {1, 0, {1}, "b"}, {3, 0, {1, 1, 1}, "b"},
                       {1, 0, {0}, "b"}});
  Domains d = compute_domains(set);
  EXPECT_EQ(d.loo_requests, 5u);
  EXPECT_EQ(d.loo_correct, 4u);
  EXPECT_DOUBLE_EQ(*d.loo_accuracy, 0.8);
}

TEST(AnalysisDomains, SingletonDomainHasNoCentroidForItself) {
  // c has one request: with itself left out it has no centroid, so it is classified a or b.
  auto set = make_set(1, 2, 1, {{1, 0, {0}, "a"}, {1, 0, {0}, "a"}, {1, 0, {1}, "b"}, {1, 0, {1}, "b"}, {1, 0, {0}, "c"}});
  Domains d = compute_domains(set);
  EXPECT_EQ(d.loo_requests, 5u);
  EXPECT_EQ(d.loo_correct, 4u);
}

TEST(AnalysisDomains, LayerBlocksNormalisedSeparately) {
  // Per-layer normalisation: a vector is the concatenation of per-layer distributions, so a
  // request's domain follows the layer where the domains differ. Layer 0 is shared (expert
  // 0 everywhere), layer 1 separates a (expert 0) from b (expert 1).
  auto set = make_set(2, 2, 1,
                      {{1, 0, {0, 0}, "a"}, {2, 0, {0, 0, 0, 0}, "a"}, {1, 0, {0, 1}, "b"}, {3, 0, {0, 1, 0, 1, 0, 1}, "b"}});
  Domains d = compute_domains(set);
  EXPECT_EQ(d.loo_correct, 4u);
}

// A pseudo-random trace with three domains, k = 3, several layers: big enough for many
// threads and blocks.
trace::TraceSet random_set() {
  std::vector<Req> reqs;
  std::uint64_t s = 777;
  auto next = [&] { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return s >> 33; };
  const char* names[] = {"math", "bio", "law"};
  for (int r = 0; r < 400; ++r) {
    Req q{static_cast<std::uint32_t>(1 + next() % 30), static_cast<std::uint32_t>(next() % 20), {}, names[r % 3]};
    for (std::uint32_t t = 0; t < q.prefill + q.decode; ++t)
      for (int l = 0; l < 4; ++l) {
        // Three distinct ids: steps of 1..11 from a skewed, domain-shifted first id.
        const std::uint64_t a = ((next() % 24) * (next() % 24) / 24 + (r % 3) * 2) % 24;
        const std::uint64_t b = (a + 1 + next() % 11) % 24, c = (b + 1 + next() % 11) % 24;
        for (auto id : {a, b, c}) q.ids.push_back(static_cast<std::uint16_t>(id));
      }
    reqs.push_back(q);
  }
  return make_set(4, 24, 3, reqs);
}

TEST(AnalysisFamilies, BitIdenticalForAnyThreadCount) {
  auto set = random_set();
  const int saved = omp_get_max_threads();
  std::string reference;
  for (int threads : {1, 2, 3, 8}) {
    omp_set_num_threads(threads);
    auto j = to_json(analyze(set));
    ASSERT_TRUE(j.contains("coactivation") && j.contains("domains"));
    std::string text = j.dump();
    if (threads == 1) reference = text;
    EXPECT_EQ(text, reference) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(AnalysisLayers, ParseList) {
  EXPECT_EQ(parse_layer_list("0-2,5,1", 6), (std::vector<int>{0, 1, 2, 5}));
  EXPECT_EQ(parse_layer_list("3", 6), (std::vector<int>{3}));
  for (const char* bad : {"", "3-1", "x", "6", "1,", "-1", "0-", "1-2-3"})
    EXPECT_THROW(parse_layer_list(bad, 6), Error) << bad;
}

TEST(AnalysisLayers, SelectedLayersAnalysedAsTheOnlyOnes) {
  auto set = random_set();
  auto sub = select_layers(set, {1, 3});
  EXPECT_NO_THROW(sub.check("subset"));
  EXPECT_EQ(sub.model.moe_layer_ids, (std::vector<int>{3, 7}));
  // The same routing, built directly with two layers.
  std::vector<Req> reqs;
  for (const auto& q : set.requests) {
    Req r{q.prefill_tokens, q.decode_tokens, {}, set.domains[q.domain]};
    for (std::uint64_t t = q.token_offset; t < q.token_offset + q.tokens(); ++t)
      for (int l : {1, 3})
        for (int k = 0; k < 3; ++k) r.ids.push_back(static_cast<std::uint16_t>(set.ids[t * 12 + l * 3 + k]));
    reqs.push_back(r);
  }
  auto direct = make_set(2, 24, 3, reqs);
  auto a = to_json(analyze(sub)), b = to_json(analyze(direct));
  a.erase("moe_layer_ids"), b.erase("moe_layer_ids");
  EXPECT_EQ(a.dump(), b.dump());
}

TEST(AnalysisMatrices, CountsAndJson) {
  // E = 3, k = 2, layers (1, 3). Token 0: {0,1} -> {1,2}; token 1 (decode): {0,2} -> {1,2}.
  auto set = make_set(2, 3, 2, {{1, 1, {0, 1, 1, 2, 0, 2, 1, 2}}});
  Report r = analyze(set);
  Matrices m = compute_matrices(set, r.loads, {});
  EXPECT_EQ(*m.from_layer, 0);
  EXPECT_EQ(*m.to_layer, 1);
  EXPECT_EQ(m.transition, (std::vector<std::uint64_t>{0, 2, 2, 0, 1, 1, 0, 1, 1}));
  EXPECT_EQ(*m.coactivation_layer, 0);
  EXPECT_EQ(m.coactivation, (std::vector<std::uint64_t>{0, 1, 1, 1, 0, 0, 1, 0, 0}));
  auto j = to_json(m);
  EXPECT_EQ(j["load"]["prefill"], nlohmann::ordered_json::parse("[[1,1,0],[0,1,1]]"));
  EXPECT_EQ(j["load"]["all"], nlohmann::ordered_json::parse("[[2,1,1],[0,2,2]]"));
  EXPECT_EQ(j["transition"]["counts"][0], nlohmann::ordered_json::parse("[0,2,2]"));
  EXPECT_EQ(j["coactivation"]["layer"], 0);

  MatrixOptions o;
  o.from_layer = 1, o.to_layer = 0, o.coactivation_layer = 1;
  Matrices back = compute_matrices(set, r.loads, o);
  EXPECT_EQ(back.transition, (std::vector<std::uint64_t>{0, 0, 0, 2, 1, 1, 2, 1, 1}));
  EXPECT_EQ(back.coactivation[1 * 3 + 2], 2u);
  o.from_layer = 1, o.to_layer = 1;
  EXPECT_THROW(compute_matrices(set, r.loads, o), Error);
  o.to_layer = 2;
  EXPECT_THROW(compute_matrices(set, r.loads, o), Error);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(AnalysisMatrices, CsvFiles) {
  auto set = make_set(2, 3, 2, {{1, 0, {0, 1, 1, 2}}});
  Report r = analyze(set);
  testing::TempDir dir;
  auto written = write_matrices_csv(compute_matrices(set, r.loads, {}), dir.file("out"));
  EXPECT_EQ(written.size(), 4u);  // load_prefill, load_all, transition_0_1, coactivation_0
  EXPECT_EQ(read_text(dir.file("out/load_prefill.csv")), "layer,model_layer,0,1,2\n0,1,1,1,0\n1,3,0,1,1\n");
  EXPECT_EQ(read_text(dir.file("out/transition_0_1.csv")), "from\\to,0,1,2\n0,0,1,1\n1,0,1,1\n2,0,0,0\n");
  EXPECT_EQ(read_text(dir.file("out/coactivation_0.csv")), "expert,0,1,2\n0,0,1,0\n1,1,0,0\n2,0,0,0\n");
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/load_decode.csv")));
}

TEST(AnalysisCli, MatricesLayersAndSummary) {
  testing::TempDir dir;
  const std::string path = dir.file("t.moet");
  trace::save_moet(random_set(), path);

  auto plain = testing::run_cli({"analyze", path, "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("matrices"));

  auto with = testing::run_cli({"analyze", path, "--json", "--matrices-json", "--matrices", dir.file("m"),
                                "--transition", "3,1", "--coactivation-layer", "2"});
  ASSERT_EQ(with.exit_code, 0) << with.err;
  auto j = nlohmann::json::parse(with.out);
  EXPECT_EQ(j["matrices"]["transition"]["from_layer"], 3);
  EXPECT_EQ(j["matrices"]["coactivation"]["layer"], 2);
  EXPECT_EQ(j["matrices"]["load"]["all"].size(), 4u);
  for (const char* f : {"load_prefill.csv", "load_decode.csv", "load_all.csv", "transition_3_1.csv", "coactivation_2.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "m" / f)) << f;

  auto sub = testing::run_cli({"analyze", path, "--json", "--layers", "1-2"});
  ASSERT_EQ(sub.exit_code, 0) << sub.err;
  EXPECT_EQ(nlohmann::json::parse(sub.out)["moe_layer_ids"], nlohmann::json::parse("[3,5]"));

  auto text = testing::run_cli({"analyze", path});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* s : {"Load imbalance", "Hot experts", "Prefill vs decode", "next MoE layer", "next token",
                        "Co-activation", "PRIVACY RISK"})
    EXPECT_NE(text.out.find(s), std::string::npos) << s;

  EXPECT_NE(testing::run_cli({"analyze", path, "--layers", "4"}).exit_code, 0);
  EXPECT_NE(testing::run_cli({"analyze", path, "--transition", "0,1"}).exit_code, 0);   // no matrices asked
  EXPECT_NE(testing::run_cli({"analyze", path, "--matrices-json"}).exit_code, 0);         // needs --json
  EXPECT_NE(testing::run_cli({"analyze", path, "--json", "--matrices-json", "--transition", "0,9"}).exit_code, 0);
  EXPECT_NE(testing::run_cli({"analyze", path, "--json", "--matrices-json", "--transition", "0"}).exit_code, 0);
}

}  // namespace
}  // namespace moeplan::analysis
