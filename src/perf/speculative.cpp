// Speculative decoding: see speculative.hpp.
#include "moeplan/perf/speculative.hpp"

#include <fmt/format.h>

#include <cmath>

#include "moeplan/io/error.hpp"

namespace moeplan::perf {

SegmentList with_segment(const StepSegment& first, std::span<const StepSegment> others) {
  SegmentList l;
  if (others.size() >= l.items.size()) throw Error(ErrorKind::internal, {}, "with_segment: more than 3 other segments");
  l.items[l.size++] = first;
  for (const StepSegment& o : others) l.items[l.size++] = o;
  return l;
}

double tokens_per_iteration(int draft_tokens, double acceptance) {
  if (draft_tokens <= 0) return 1;
  if (acceptance >= 1) return draft_tokens + 1.0;
  return (1 - std::pow(acceptance, draft_tokens + 1)) / (1 - acceptance);
}

StepCost SpecIteration::combined() const {
  StepCost c = verify;
  c.add_scaled(draft, 1);
  return c;
}

namespace {

// The target's MTP modules as a model of their own: mtp_layers copies of the last decoder
// layer. `with_vocab` false drops the embedding and LM head (shared with the target) for the
// memory count. Each module's input projection (the normed hidden state and embedding,
// 2H -> H, replicated on every rank) is priced beside it: mtp_projection_cost().
ModelSpec mtp_model(const ModelSpec& m, bool with_vocab) {
  ModelSpec d = m;
  d.name = m.name + " MTP";
  d.layers.assign(static_cast<std::size_t>(m.mtp_layers), m.layers.back());
  if (!with_vocab) d.vocab = 0;
  return d;
}

// One MTP pass's input projections for `seqs` sequences: a [seqs/dp x 2H] x [2H x H] GEMM per
// module, on every TP rank.
StepCost mtp_projection_cost(const EstimateRequest& r, double seqs) {
  const ModelSpec& m = *r.model;
  const DType w = m.weights.attention;
  const Device d = make_device(*r.hardware, r.efficiency, compute_dtype(w, r.precision.activations));
  const double H = static_cast<double>(m.hidden);
  StepCost c;
  c.add(Part::attn_proj,
        gemm_cost(d, seqs / r.parallel.dp, 2 * H, H, dtype_bytes(w), dtype_bytes(r.precision.activations), r.efficiency.gemm),
        m.mtp_layers);
  return c;
}

// The draft as an estimate request on the target's GPUs: the same TP / DP / PP layout, and
// for a dense draft no expert parallelism.
EstimateRequest draft_request(const EstimateRequest& r, const ModelSpec& draft) {
  EstimateRequest d = r;
  d.model = &draft;
  d.speculation = {};
  if (!draft.is_moe()) d.parallel.ep = 1;
  return d;
}

}  // namespace

std::string speculation_problem(const EstimateRequest& r) {
  const Speculation& s = r.speculation;
  if (!s.enabled()) return {};
  if (s.draft_tokens > 64) return fmt::format("{} draft tokens: at most 64", s.draft_tokens);
  if (!(s.acceptance >= 0 && s.acceptance <= 1)) return fmt::format("acceptance {} is outside [0, 1]", s.acceptance);
  if (s.draft_model == nullptr) {
    if (r.model->mtp_layers <= 0 || r.model->layers.empty())
      return fmt::format("{} has no multi-token-prediction modules (num_nextn_predict_layers); give a draft model",
                         r.model->name);
    return {};
  }
  EstimateRequest d = draft_request(r, *s.draft_model);
  if (std::string why = parallel_problem(*s.draft_model, d.parallel, d.workload); !why.empty())
    return "draft model: " + why;
  return {};
}

SpecIteration speculative_iteration(const EstimateRequest& r, double seqs, double past,
                                    std::span<const StepSegment> others) {
  if (std::string why = speculation_problem(r); !why.empty()) throw_usage("speculative decoding: " + why);
  const Speculation& s = r.speculation;
  SpecIteration it;
  it.tokens_per_seq = tokens_per_iteration(s.draft_tokens, s.acceptance);
  it.verify = step_cost(r, with_segment(StepSegment{seqs, s.draft_tokens + 1.0, past, true}, others).view());
  // Draft pass j (0-based) sees the context plus the j tokens drafted before it.
  const ModelSpec mtp = s.draft_model ? ModelSpec{} : mtp_model(*r.model, true);
  const EstimateRequest d = draft_request(r, s.draft_model ? *s.draft_model : mtp);
  for (int j = 0; j < s.draft_tokens && seqs > 0; ++j) {
    const StepSegment one{seqs, 1, past + j};
    it.draft.add_scaled(step_cost(d, std::span<const StepSegment>(&one, 1)), 1);
    if (!s.draft_model) it.draft.add_scaled(mtp_projection_cost(r, seqs), 1);
  }
  return it;
}

MemoryUse draft_memory(const EstimateRequest& r) {
  const Speculation& s = r.speculation;
  if (!s.enabled()) return {};
  const ModelSpec mtp = s.draft_model ? ModelSpec{} : mtp_model(*r.model, false);
  EstimateRequest d = draft_request(r, s.draft_model ? *s.draft_model : mtp);
  d.efficiency.runtime_reserve = false;  // the target's reserve and activations already count
  MemoryUse m = memory_use(d);
  if (!s.draft_model)  // the MTP modules' input projections, replicated
    m.weights_bytes_per_gpu += r.model->mtp_layers * 2.0 * static_cast<double>(r.model->hidden) *
                               static_cast<double>(r.model->hidden) * dtype_bytes(r.model->weights.attention);
  m.capacity_bytes_per_gpu = 0;
  return m;
}

}  // namespace moeplan::perf
