// Internal: how a model's heads and experts divide over the GPUs of a parallel layout.
#pragma once

#include "moeplan/perf/estimate.hpp"

namespace moeplan::perf {

struct Shard {
  int tp = 1, pp = 1, ep = 1, dp = 1, moe_tp = 1;
  double heads = 0;     // query heads per GPU
  double kv_heads = 0;  // KV heads per GPU (replicated when fewer than tp)
};

inline Shard make_shard(const ModelSpec& m, const Parallel& p) {
  Shard s;
  s.tp = p.tp;
  s.pp = p.pp;
  s.ep = p.ep;
  s.dp = p.dp;
  s.moe_tp = (p.tp * p.dp) / p.ep;
  s.heads = static_cast<double>(m.heads) / p.tp;
  s.kv_heads = m.kv_heads >= p.tp ? static_cast<double>(m.kv_heads) / p.tp : 1.0;
  return s;
}

}  // namespace moeplan::perf
