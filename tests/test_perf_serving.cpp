// Serving at a concurrency and the mixed step: each formula against a hand calculation built
// from the already-tested step_cost() and memory_use().
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include <nlohmann/json.hpp>

#include "moeplan/perf/calibration.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/validate.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

struct Fixture {
  ModelSpec m = load_model("llama-3.1-8b");
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r;
  Fixture() {
    r.model = &m;
    r.hardware = &hw;
    r.efficiency = Efficiency::defaults();
  }
};

}  // namespace

TEST(PerfServing, OneSegmentEqualsTheUniformStep) {
  Fixture f;
  const StepSegment s{8, 1, 1500};
  EXPECT_DOUBLE_EQ(step_cost(f.r, std::span<const StepSegment>(&s, 1)).time_s, step_cost(f.r, 8, 1, 1500).time_s);
}

TEST(PerfServing, MixedStepSharesTheWeightRead) {
  // Decode-only and prefill-only steps each read every weight once; the mixed step reads them
  // once in all, so it costs less than the sum and more than either part.
  Fixture f;
  const std::array<StepSegment, 2> mixed{StepSegment{16, 1, 1000}, StepSegment{0.25, 1024, 0}};
  double dec = step_cost(f.r, std::span<const StepSegment>(&mixed[0], 1)).time_s;
  double pre = step_cost(f.r, std::span<const StepSegment>(&mixed[1], 1)).time_s;
  double both = step_cost(f.r, mixed).time_s;
  EXPECT_LT(both, dec + pre);
  EXPECT_GT(both, std::max(dec, pre));
}

TEST(PerfServing, KvCapacityByHand) {
  // Llama-3.1-8B bf16 on one H100: free = capacity - weights - reserved - activations; one
  // request of 2048 tokens needs 32 layers x 2 x 8 heads x 128 x 2 B x 2048 = 268,435,456 B.
  Fixture f;
  EstimateRequest one = f.r;
  one.workload = Workload{1, 2047, 1};
  MemoryUse m = memory_use(one);
  EXPECT_DOUBLE_EQ(m.kv_cache_bytes_per_gpu, 32.0 * 2 * 8 * 128 * 2 * 2048);
  double free = m.capacity_bytes_per_gpu - m.weights_bytes_per_gpu - m.reserved_bytes_per_gpu - m.activations_bytes_per_gpu;
  EXPECT_DOUBLE_EQ(kv_capacity_requests(f.r, 2048, 0.9), std::floor(free * 0.9 / (32.0 * 2 * 8 * 128 * 2 * 2048)));
}

TEST(PerfServing, AggregatedByHand) {
  Fixture f;
  ServingParams p;
  p.ttft_factor = 2;
  p.ttft_factor_log2c = 0.5;
  const ServingWorkload w{16, 1024, 256};
  ServingEstimate e = serve_aggregated(f.r, w, p);
  // TPOT: 16 decodes at context 1024 + 128; 16/256 new prompts per step, one chunk each
  // (1024 < 8192 - 16), so a fraction f = 1/16 of the steps carries one 1024-token prompt and
  // the rest are pure decode steps: TPOT = 15/16 x decode + 1/16 x (decode + prompt).
  const StepSegment dec{16, 1, 1024 + 128 - 1};
  const std::array<StepSegment, 2> with{dec, StepSegment{1, 1024, 0}};
  const double dec_s = step_cost(f.r, std::span<const StepSegment>(&dec, 1)).time_s;
  EXPECT_DOUBLE_EQ(e.decode_step_s, dec_s);
  EXPECT_NEAR(e.tpot_s, 15.0 / 16 * dec_s + 1.0 / 16 * step_cost(f.r, with).time_s, 1e-15);
  EXPECT_DOUBLE_EQ(e.mixed_step_s, e.tpot_s);
  // TTFT: own prefill beside 15 decodes (one chunk: 1024 < 8192 - 16), times 2 + 0.5 log2(16) = 4.
  const std::array<StepSegment, 2> own{StepSegment{15, 1, 1024 + 128 - 1}, StepSegment{1, 1024, 0}};
  EXPECT_DOUBLE_EQ(e.prefill_service_s, step_cost(f.r, own).time_s);
  EXPECT_DOUBLE_EQ(e.ttft_s, 4 * e.prefill_service_s);
  EXPECT_DOUBLE_EQ(e.queue_s, 0);
  EXPECT_DOUBLE_EQ(e.throughput_tokens_per_s, 16.0 * 256 / (e.ttft_s + 255 * e.tpot_s));
}

TEST(PerfServing, TtftFactorLinearInConcurrency) {
  // factor = ttft_factor + ttft_factor_per_request x C: 1.5 + 0.25 x 16 = 5.5.
  Fixture f;
  ServingParams p;
  p.ttft_factor = 1.5;
  p.ttft_factor_per_request = 0.25;
  ServingEstimate e = serve_aggregated(f.r, ServingWorkload{16, 1024, 256}, p);
  EXPECT_DOUBLE_EQ(e.ttft_s, 5.5 * e.prefill_service_s);
  // Never below the service time itself.
  p.ttft_factor = 0.5;
  p.ttft_factor_per_request = 0;
  e = serve_aggregated(f.r, ServingWorkload{16, 1024, 256}, p);
  EXPECT_DOUBLE_EQ(e.ttft_s, e.prefill_service_s);
}

TEST(PerfServing, QueueWhenKvLimitsConcurrency) {
  // Little's law in a closed loop: with b slots of lifetime L and C clients, each waits
  // L (C / b - 1) for a slot.
  Fixture f;
  ServingParams p;
  p.kv_memory_fraction = 0.9;
  const ServingWorkload w{4096, 8192, 1024};
  ServingEstimate e = serve_aggregated(f.r, w, p);
  ASSERT_LT(e.running, 4096);
  EXPECT_DOUBLE_EQ(e.running, e.kv_capacity);
  double own = e.prefill_service_s;  // factor 1
  double lifetime = own + 1023 * e.tpot_s;
  EXPECT_NEAR(e.queue_s, lifetime * (4096 / e.running - 1), 1e-9 * e.queue_s);
  EXPECT_NEAR(e.ttft_s, own + e.queue_s, 1e-12);
}

TEST(PerfServing, ErrorStatistics) {
  EXPECT_DOUBLE_EQ(pct_error(10, 12), 20);
  EXPECT_DOUBLE_EQ(pct_error(10, 9), -10);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9), 10);
}

TEST(PerfServing, EstimateCliAtAConcurrency) {
  // `estimate --concurrency` is serve_aggregated() with the backend's calibration.
  auto r = moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-8b", "--hardware", "h100_sxm", "--concurrency", "16",
                                      "--backend", "vllm", "--input-len", "2048", "--output-len", "128", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  CalibrationSet cal = load_calibration(default_calibration_path());
  Fixture f;
  f.r.efficiency = cal.find("vllm", "bf16")->efficiency;
  ServingEstimate e = serve_aggregated(f.r, ServingWorkload{16, 2048, 128}, cal.find("vllm", "bf16")->serving);
  EXPECT_DOUBLE_EQ(j["ttft_s"].get<double>(), e.ttft_s);
  EXPECT_DOUBLE_EQ(j["tpot_s"].get<double>(), e.tpot_s);
  EXPECT_DOUBLE_EQ(j["throughput_tokens_per_s_per_gpu"].get<double>(), e.throughput_tokens_per_s_per_gpu);
  EXPECT_DOUBLE_EQ(j["memory"]["kv_cache_bytes_per_gpu"].get<double>(), 16.0 * 32 * 2 * 8 * 128 * 2 * 2176);
  EXPECT_DOUBLE_EQ(j["breakdown"]["decode_step"]["time_s"].get<double>(), e.tpot_s);
  EXPECT_EQ(j["serving"]["running_requests"].get<double>(), 16);
  EXPECT_EQ(j["workload"]["concurrency"].get<int>(), 16);
  // --batch and --concurrency exclude each other; genz and a backend too.
  EXPECT_EQ(moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-8b", "--hardware", "h100_sxm", "--batch", "2",
                                       "--concurrency", "4"}).exit_code, 2);
  EXPECT_EQ(moeplan::testing::run_cli({"estimate", "--model", "llama-3.1-8b", "--hardware", "h100_sxm", "--backend", "vllm",
                                       "--efficiency", "genz"}).exit_code, 2);
}

TEST(PerfServing, MixedStepWhenEveryStepCarriesPrompts) {
  // 64 requests of 3000 + 8 tokens with a 1000-token budget: 64 - 64 = 936 tokens left beside
  // the decodes, so ceil(3000 / 936) = 4 chunks of 750 tokens, and 64 x 4 / 8 = 32 chunks start
  // per step: every step (f = 1) carries 32 chunks at the mean chunk position, past =
  // (3000 - 750) / 2 = 1125.
  Fixture f;
  ServingParams p;
  p.max_num_tokens = 1000;
  ServingEstimate e = serve_aggregated(f.r, ServingWorkload{64, 3000, 8}, p);
  const std::array<StepSegment, 2> with{StepSegment{64, 1, 3000 + 4 - 1}, StepSegment{32, 750, 1125}};
  EXPECT_DOUBLE_EQ(e.tpot_s, step_cost(f.r, with).time_s);
}

TEST(PerfServing, MixedStepIsTheMeanOfItsSteps) {
  // The mean step lies between the pure decode step and the step that carries a prompt, and
  // its parts are the same mixture as its time.
  Fixture f;
  ServingEstimate e = serve_aggregated(f.r, ServingWorkload{8, 2048, 512}, ServingParams{});
  const StepSegment dec{8, 1, 2048 + 256 - 1};
  const std::array<StepSegment, 2> with{dec, StepSegment{1, 2048, 0}};
  const StepCost d = step_cost(f.r, std::span<const StepSegment>(&dec, 1)), w = step_cost(f.r, with);
  const double frac = 8.0 / 512;
  EXPECT_NEAR(e.tpot_s, (1 - frac) * d.time_s + frac * w.time_s, 1e-15);
  double parts = 0;
  for (double s : e.decode.part_s) parts += s;
  EXPECT_NEAR(parts, e.tpot_s, 1e-12);
  EXPECT_NEAR(e.decode.bytes, (1 - frac) * d.bytes + frac * w.bytes, 1e-3);
}
