#include "moeplan/analysis/loads.hpp"

#include <omp.h>

#include <numeric>

namespace moeplan::analysis {

const char* phase_sel_name(PhaseSel p) {
  return p == PhaseSel::prefill ? "prefill" : p == PhaseSel::decode ? "decode" : "all";
}

std::uint64_t LoadMatrix::total() const {
  return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0});
}

PhaseLoads compute_loads(const trace::TraceSet& set) {
  const int L = set.model.moe_layers(), E = set.model.num_experts, K = set.model.top_k;
  const std::size_t cells = static_cast<std::size_t>(L) * E;
  const std::size_t per_token = set.ids_per_token();
  const auto n = static_cast<std::ptrdiff_t>(set.requests.size());

  // Per-thread [phase][layer][expert] partials; integer sums make the merge order irrelevant,
  // but it is fixed (thread order) anyway.
  std::vector<std::vector<std::uint64_t>> partial(static_cast<std::size_t>(omp_get_max_threads()));
  set.ids.visit([&](auto ids) {
#pragma omp parallel
    {
      auto& mine = partial[static_cast<std::size_t>(omp_get_thread_num())];
      mine.assign(2 * cells, 0);
#pragma omp for schedule(dynamic, 16)
      for (std::ptrdiff_t r = 0; r < n; ++r) {
        const trace::Request& q = set.requests[static_cast<std::size_t>(r)];
        const auto* tok = ids.data() + q.token_offset * per_token;
        for (std::uint64_t t = 0; t < q.tokens(); ++t, tok += per_token) {
          std::uint64_t* base = mine.data() + (t < q.prefill_tokens ? 0 : cells);
          for (int l = 0; l < L; ++l)
            for (int k = 0; k < K; ++k) ++base[static_cast<std::size_t>(l) * E + tok[l * K + k]];
        }
      }
    }
  });

  PhaseLoads out;
  for (LoadMatrix* m : {&out.prefill, &out.decode, &out.all}) {
    m->layers = L, m->experts = E;
    m->counts.assign(cells, 0);
  }
  for (const auto& p : partial) {
    if (p.empty()) continue;
    for (std::size_t i = 0; i < cells; ++i) {
      out.prefill.counts[i] += p[i];
      out.decode.counts[i] += p[cells + i];
    }
  }
  for (std::size_t i = 0; i < cells; ++i) out.all.counts[i] = out.prefill.counts[i] + out.decode.counts[i];
  return out;
}

}  // namespace moeplan::analysis
