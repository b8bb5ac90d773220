// Internal: the bounded coordinate search both calibration fits use (silicon dense rows,
// splitwise training rows). Each parameter in turn tries multiplicative (or additive) steps
// that shrink as the search settles; bounds keep the values physical.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

namespace moeplan::perf::fit {

struct Param {
  double* v;
  double lo, hi;
  bool additive;  // additive steps of (hi - lo) x step / 5, else multiplicative (1 + step)
};

// One pass: the step schedule 0.5 ... 0.015 once. Returns the final loss.
inline double coordinate_pass(std::vector<Param>& params, const std::function<double()>& loss) {
  for (Param& p : params) *p.v = std::clamp(*p.v, p.lo, p.hi);  // start inside the bounds
  double best = loss();
  for (double step : {0.5, 0.25, 0.1, 0.04, 0.015}) {
    for (int sweep = 0; sweep < 3; ++sweep) {
      bool improved = false;
      for (Param& p : params) {
        for (double dir : {1.0, -1.0}) {
          for (;;) {
            double old = *p.v;
            double scale = p.additive ? (p.hi - p.lo) * step * 0.2 : 0;
            double cand = p.additive ? old + dir * scale : old * (dir > 0 ? 1 + step : 1 / (1 + step));
            cand = std::clamp(cand, p.lo, p.hi);
            if (cand == old) break;
            *p.v = cand;
            double l = loss();
            if (l < best - 1e-9) {
              best = l;
              improved = true;
            } else {
              *p.v = old;
              break;
            }
          }
        }
      }
      if (!improved) break;
    }
  }
  // Additive steps leave rounding residue (1e-22) where a bound was meant: snap it.
  for (Param& p : params)
    if (p.additive && *p.v - p.lo < (p.hi - p.lo) * 1e-9) *p.v = p.lo;
  return best;
}

// Minimises loss() over the parameters (written in place): passes of the step schedule,
// repeated from the last point while a pass still lowers the loss by more than 1e-4 (at most
// 8 passes; a single pass often stops in a corner where two parameters trade off). Returns
// the final loss.
inline double coordinate_search(std::vector<Param>& params, const std::function<double()>& loss) {
  double best = coordinate_pass(params, loss);
  for (int pass = 1; pass < 8; ++pass) {
    const double l = coordinate_pass(params, loss);
    const bool done = l > best - 1e-4;
    best = std::min(best, l);
    if (done) break;
  }
  return best;
}

}  // namespace moeplan::perf::fit
