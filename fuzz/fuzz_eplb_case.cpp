// libFuzzer target: the EPLB case parser (read_eplb_case) on arbitrary bytes, then EPLB itself
// on every accepted case with all three policies. Only moeplan::Error may escape; anything
// else (a crash, another exception, a broken invariant of the result) is a bug. The parser
// refuses cases whose outputs would be huge (kEplbMaxSlots, kEplbMaxLog2phy); this target
// additionally skips accepted cases above 2^16 slots to keep runs fast.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/placement/eplb.hpp"

namespace {

void check_result(const moeplan::placement::EplbInput& in, const moeplan::placement::EplbResult& r) {
  // Every expert has logcnt >= 1, counts sum to R, and log2phy inverts phy2log.
  for (int l = 0; l < r.layers; ++l) {
    std::int64_t total = 0;
    for (int e = 0; e < r.experts; ++e) {
      const int n = r.count(l, e);
      if (n < 1 || n > r.max_logcnt) std::abort();
      total += n;
      for (int k = 0; k < r.max_logcnt; ++k) {
        const int p = r.slot(l, e, k);
        if ((k < n) != (p >= 0)) std::abort();
        if (p >= 0 && (p >= r.replicas || r.phy(l, p) != e)) std::abort();
      }
    }
    if (total != in.num_replicas) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace pl = moeplan::placement;
  try {
    pl::EplbInput in =
        pl::read_eplb_case(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    if (std::int64_t{in.layers} * in.num_replicas > (1 << 16)) return 0;
    for (pl::EplbPolicy policy : {pl::EplbPolicy::automatic, pl::EplbPolicy::hierarchical, pl::EplbPolicy::global}) {
      try {
        check_result(in, pl::rebalance_experts(in, policy));
      } catch (const moeplan::Error& e) {
        if (e.kind() != moeplan::ErrorKind::infeasible) std::abort();  // the parser let a bad case through
      }
    }
  } catch (const moeplan::Error&) {
  }
  return 0;
}
