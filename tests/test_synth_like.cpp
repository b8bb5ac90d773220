// `trace synth --like` against both real sets: the synthetic trace must reproduce the real
// per-layer max/mean load, prefill/decode Spearman, layer and token coverage within 10 %
// (means over layers), and every layer's max/mean load within 10 %.
#include <cstdio>

#include "moeplan/trace/import.hpp"
#include "moeplan/trace/synth.hpp"
#include "support/support.hpp"

namespace moeplan::trace {
namespace {

double rel(double got, double want) { return std::abs(got - want) / std::abs(want); }

void check_like(const TraceSet& real) {
  SynthParams p = fit_like(real, FitOptions{});
  EXPECT_EQ(p.requests, real.requests.size());
  p.seed = 12345;  // not the calibration seed: the fit must generalise to fresh draws
  TraceSet syn = synthesize(p);
  EXPECT_NO_THROW(syn.check("synthetic"));
  EXPECT_EQ(syn.num_tokens(), real.num_tokens());
  EXPECT_EQ(syn.prefill_tokens(), real.prefill_tokens());

  FitMetrics want = fit_metrics(real), got = fit_metrics(syn);
  EXPECT_LE(rel(got.max_over_mean_mean, want.max_over_mean_mean), 0.10)
      << got.max_over_mean_mean << " vs " << want.max_over_mean_mean;
  EXPECT_LE(rel(got.layer_coverage, want.layer_coverage), 0.10) << got.layer_coverage << " vs " << want.layer_coverage;
  EXPECT_LE(rel(got.token_coverage, want.token_coverage), 0.10) << got.token_coverage << " vs " << want.token_coverage;
  EXPECT_EQ(got.has_spearman, want.has_spearman);
  if (want.has_spearman)
    EXPECT_LE(rel(got.spearman_mean, want.spearman_mean), 0.10) << got.spearman_mean << " vs " << want.spearman_mean;
  for (std::size_t l = 0; l < want.max_over_mean.size(); ++l)
    EXPECT_LE(rel(got.max_over_mean[l], want.max_over_mean[l]), 0.10)
        << "layer " << l << " max/mean " << got.max_over_mean[l] << " vs " << want.max_over_mean[l];
}

TEST(SynthLike, Maverick) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  auto base = testing::shared_dir() / "data/llama4-maverick-mmlu";
  ImportOptions opt;
  opt.num_experts = 128;
  check_like(import_traces({(base / "abstract_algebra").string(), (base / "anatomy").string()}, opt));
}

TEST(SynthLike, DeepSeek) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  ImportOptions opt;
  opt.num_experts = 64;
  check_like(import_traces({(testing::shared_dir() / "data/deepseek-v2-lite-puffin/traces").string()}, opt));
}

}  // namespace
}  // namespace moeplan::trace
