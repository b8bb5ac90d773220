// Shared by the perf-input fuzz targets: an accepted hardware or calibration file must give a
// finite, positive prediction for a dense and a MoE model (a prediction of inf or NaN printed
// as if it were a result is the "silently wrong answer" the parsers' bounds exist to prevent).
// Aborts otherwise, which libFuzzer reports as a finding.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "moeplan/io/error.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/zoo.hpp"

namespace moeplan::fuzz {

inline void require_finite(double v, const char* what) {
  if (!std::isfinite(v) || v <= 0) {
    std::fprintf(stderr, "accepted input gives %s = %g\n", what, v);
    std::abort();
  }
}

// Estimates one static batch and one serving point of a dense and a MoE model (both bundled)
// on `hw` with `eff` and `serving`. Expected refusals (does not fit, impossible layout) are
// fine; anything accepted must be finite.
inline void check_predictions(const perf::Hardware& hw, const perf::Efficiency& eff, const perf::ServingParams& serving) {
  static const perf::ModelSpec dense = perf::load_model("llama-3.1-8b");
  static const perf::ModelSpec moe = perf::load_model("deepseek-v2-lite");
  for (const perf::ModelSpec* m : {&dense, &moe}) {
    perf::EstimateRequest r;
    r.model = m;
    r.hardware = &hw;
    r.efficiency = eff;
    r.workload = {8, 512, 64};
    perf::Estimate e;
    std::string why;
    if (perf::try_estimate(r, e, why)) {
      require_finite(e.ttft_s, "ttft_s");
      require_finite(e.tpot_s, "tpot_s");
      require_finite(e.memory.total_bytes_per_gpu, "memory");
    }
    try {
      perf::ServingEstimate s = perf::serve_aggregated(r, {16, 512, 64}, serving);
      require_finite(s.ttft_s, "serving ttft_s");
      require_finite(s.tpot_s, "serving tpot_s");
    } catch (const Error&) {
    }
  }
}

}  // namespace moeplan::fuzz
