// Synthetic traces: shape, validity, determinism (seed, thread count), parameters as JSON, CLI.
#include <omp.h>

#include <nlohmann/json.hpp>
#include <set>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/store.hpp"
#include "moeplan/trace/synth.hpp"
#include "support/support.hpp"

namespace moeplan::trace {
namespace {

SynthParams small() {
  SynthParams p;
  p.requests = 300;
  p.layers = 6;
  p.experts = 32;
  p.top_k = 4;
  p.domains = {"a", "b", "c"};
  p.prefill = LengthDist::parse("lognormal:20:0.5");
  p.decode = LengthDist::parse("uniform:0:10");
  p.seed = 7;
  return p;
}

void expect_distinct_within_tokens(const TraceSet& set) {
  const std::size_t K = static_cast<std::size_t>(set.model.top_k);
  for (std::size_t i = 0; i < set.ids.size(); i += K) {
    std::set<std::uint32_t> s;
    for (std::size_t k = 0; k < K; ++k) s.insert(set.ids[i + k]);
    ASSERT_EQ(s.size(), K) << "repeated expert at token-layer " << i / K;
  }
}

TEST(Synth, ShapeAndValidity) {
  SynthParams p = small();
  TraceSet set = synthesize(p);
  EXPECT_NO_THROW(set.check("synthetic"));
  EXPECT_EQ(set.requests.size(), 300u);
  EXPECT_EQ(set.model.moe_layers(), 6);
  EXPECT_EQ(set.model.num_experts, 32);
  EXPECT_EQ(set.model.top_k, 4);
  EXPECT_EQ(set.domains.size(), 3u);
  EXPECT_EQ(set.ids.width(), 1);
  for (const auto& q : set.requests) {
    EXPECT_GE(q.prefill_tokens, 1u);
    EXPECT_LE(q.decode_tokens, 10u);
  }
  expect_distinct_within_tokens(set);
}

TEST(Synth, WideIdsAndExtremeSkew) {
  // E > 256 needs 2-byte ids; a huge skew with k close to E exercises the exact fallback.
  SynthParams p = small();
  p.experts = 300;
  p.top_k = 8;
  p.skew = 6;
  p.requests = 50;
  TraceSet set = synthesize(p);
  EXPECT_EQ(set.ids.width(), 2);
  EXPECT_NO_THROW(set.check("synthetic"));
  expect_distinct_within_tokens(set);

  SynthParams q = small();
  q.experts = 8;
  q.top_k = 8;  // every token selects every expert
  q.skew = 8;
  expect_distinct_within_tokens(synthesize(q));
}

TEST(Synth, SameSeedSameIdsDifferentSeedDifferent) {
  SynthParams p = small();
  TraceSet a = synthesize(p), b = synthesize(p);
  EXPECT_TRUE(same_content(a, b));
  p.seed = 8;
  EXPECT_FALSE(same_content(a, synthesize(p)));
}

TEST(Synth, IdenticalForAnyThreadCount) {
  SynthParams p = small();
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  TraceSet one = synthesize(p);
  omp_set_num_threads(4);
  TraceSet four = synthesize(p);
  omp_set_num_threads(saved);
  EXPECT_TRUE(same_content(one, four));
}

TEST(Synth, StickinessAndAffinityExtremes) {
  // Stickiness 1: every token repeats the first token's routing.
  SynthParams p = small();
  p.stickiness = 1;
  TraceSet set = synthesize(p);
  const std::size_t per = set.ids_per_token();
  for (const auto& q : set.requests)
    for (std::uint64_t t = 1; t < q.tokens(); ++t)
      for (std::size_t i = 0; i < per; ++i)
        ASSERT_EQ(set.ids[(q.token_offset + t) * per + i], set.ids[q.token_offset * per + i]);
}

TEST(Synth, LengthSpecs) {
  EXPECT_EQ(LengthDist::parse("64").kind, LengthDist::Kind::fixed);
  EXPECT_EQ(LengthDist::parse("fixed:3").mean, 3);
  auto u = LengthDist::parse("uniform:2:9");
  EXPECT_EQ(u.lo, 2u);
  EXPECT_EQ(u.hi, 9u);
  auto l = LengthDist::parse("lognormal:64:0.5");
  EXPECT_EQ(LengthDist::parse(l.spec()).sigma, 0.5);
  EXPECT_THROW(LengthDist::parse("uniform:9:2"), Error);
  EXPECT_THROW(LengthDist::parse("gamma:1"), Error);
  EXPECT_THROW(LengthDist::parse("-3"), Error);
}

TEST(Synth, ParamsJsonRoundTrip) {
  SynthParams p = small();
  p.stickiness = 0.25;
  p.affinity_sharpness = 3;
  p.popularity.assign(3 * 2 * 6 * 32, 1.0);
  p.popularity[5] = 40;
  p.affinity_map.assign(5 * 32, {{1, 2.0}, {3, 1.0}});
  p.shapes = {{3, 4, 0}, {5, 0, 2}};
  SynthParams q = params_from_json(nlohmann::json::parse(params_to_json(p).dump()), "mem");
  EXPECT_TRUE(same_content(synthesize(p), synthesize(q)));
  EXPECT_THROW(params_from_json(nlohmann::json{{"format", "nope"}}, "mem"), Error);
  auto bad = params_to_json(p);
  bad["top_k"] = 99;
  EXPECT_THROW(params_from_json(bad, "mem"), Error);
}

TEST(Synth, ParametricSkewShowsInLoads) {
  SynthParams p = small();
  p.top_k = 1;
  p.stickiness = p.affinity = 0;
  p.skew = 0;
  p.skew_spread = p.domain_shift = p.decode_shift = 0;
  FitMetrics flat = fit_metrics(synthesize(p));
  p.skew = 1.5;
  FitMetrics skewed = fit_metrics(synthesize(p));
  EXPECT_LT(flat.max_over_mean_mean, 2.0);
  EXPECT_GT(skewed.max_over_mean_mean, 5.0);
}

TEST(SynthCli, GeneratePrintAndReuseParams) {
  testing::TempDir dir;
  std::string out = dir.file("s.moet"), params = dir.file("p.json");
  auto r = testing::run_cli({"trace", "synth", "--requests", "40", "--layers", "4", "--experts", "16",
                             "--top-k", "2", "--prefill-tokens", "8", "--decode-tokens", "uniform:1:4",
                             "--domains", "2", "--seed", "3", "--print-params", "-o", out, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  testing::write_text(params, r.out);
  TraceSet a = load_moet(out);
  EXPECT_EQ(a.requests.size(), 40u);
  EXPECT_EQ(a.domains.size(), 2u);
  std::string out2 = dir.file("s2.moet");
  auto r2 = testing::run_cli({"trace", "synth", "--params", params, "-o", out2, "-q"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(same_content(a, load_moet(out2)));
  EXPECT_NE(testing::run_cli({"trace", "synth", "--requests", "4"}).exit_code, 0);  // no output
  EXPECT_NE(testing::run_cli({"trace", "synth", "--top-k", "9", "--experts", "4", "-o", out2}).exit_code, 0);
}

}  // namespace
}  // namespace moeplan::trace
