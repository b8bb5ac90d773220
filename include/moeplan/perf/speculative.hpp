// moeplan::perf — speculative decoding (a draft model or the target's own multi-token-
// prediction modules propose tokens, the target verifies them in one step): the acceptance
// arithmetic, the price of one iteration and the draft's memory. Built on step_cost() and
// memory_use(); the serving and static-batch estimators call it when
// EstimateRequest::speculation is enabled. Formulas: docs/perf-model.md "Speculative decoding".
#pragma once

#include <array>
#include <span>
#include <string>

#include "moeplan/perf/estimate.hpp"

namespace moeplan::perf {

// A step's segments without allocating: `first` followed by `others` (at most 3).
struct SegmentList {
  std::array<StepSegment, 4> items{};
  std::size_t size = 0;
  std::span<const StepSegment> view() const { return {items.data(), size}; }
};
SegmentList with_segment(const StepSegment& first, std::span<const StepSegment> others);

// Expected tokens one sequence gains per iteration with n drafted tokens each accepted with
// probability a (given the earlier ones were), plus the token the verification always yields:
// 1 + a + a^2 + ... + a^n = (1 - a^(n+1)) / (1 - a).
double tokens_per_iteration(int draft_tokens, double acceptance);

struct SpecIteration {
  StepCost draft;   // the n draft passes
  StepCost verify;  // the target's step over n + 1 tokens per sequence (plus any other segments)
  double tokens_per_seq = 1;
  StepCost combined() const;  // draft + verify, part by part
};

// One iteration for `seqs` sequences with `past` cached tokens each; `others` (e.g. prefill
// chunks of continuous batching) ride in the verification step. Throws Error{usage} when the
// speculation is invalid (MTP asked of a model without MTP modules, a draft model whose heads
// the layout cannot split, acceptance outside [0, 1]).
SpecIteration speculative_iteration(const EstimateRequest& r, double seqs, double past,
                                    std::span<const StepSegment> others = {});

// "" when r.speculation is usable, else the reason.
std::string speculation_problem(const EstimateRequest& r);

// Weights and KV cache the draft adds per GPU (MTP: the modules' layers; their embedding and
// LM head are the target's), for `r.workload`. memory_use() includes them.
MemoryUse draft_memory(const EstimateRequest& r);

}  // namespace moeplan::perf
