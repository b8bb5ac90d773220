// moeplan::trace — synthetic routing traces (docs/synth.md).
// Owns: the parametric routing model (SynthParams), its JSON form, the generator, and the fit
// of a model to a real trace (`--like`). The generator is parallel over requests; each request
// draws from its own RNG seeded from (seed, request index), so the output depends on the
// parameters and the seed only, never on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

// How many tokens one phase of a request has.
struct LengthDist {
  enum class Kind { fixed, uniform, lognormal };
  Kind kind = Kind::fixed;
  double mean = 0;            // fixed: the value; lognormal: the mean
  double sigma = 0;           // lognormal: standard deviation of the log
  std::uint32_t lo = 0, hi = 0;  // uniform: inclusive range

  // "64" | "fixed:64" | "uniform:16:128" | "lognormal:64:0.6". Throws Error{usage}.
  static LengthDist parse(const std::string& spec);
  std::string spec() const;
};

// One request's shape, as copied from a real trace by the fit.
struct RequestShape {
  std::uint32_t prefill = 0, decode = 0, domain = 0;
};

struct SynthParams {
  // Shape.
  std::uint64_t requests = 1000;
  int layers = 24;  // MoE layers
  int experts = 128;
  int top_k = 1;
  std::vector<int> moe_layer_ids;  // empty: 0..layers-1
  int num_layers = 0;              // all transformer layers (0: unknown)
  std::string model_name = "synthetic";
  std::vector<std::string> domains = {"synthetic"};
  LengthDist prefill = LengthDist::parse("lognormal:64:0.6");
  LengthDist decode = LengthDist::parse("lognormal:32:0.6");
  // When non-empty: request i takes shapes[i] while i < shapes.size(), then a shape drawn from
  // them at random (the length distributions and the domain draw are then unused).
  std::vector<RequestShape> shapes;
  std::uint64_t seed = 1;

  // Parametric popularity (used when `popularity` is empty): per layer a Zipf law over a random
  // permutation of the experts, exponent skew * exp(skew_spread * N(0,1)); each domain
  // multiplies it by exp(domain_shift * N(0,1)) per expert, and decode multiplies the
  // domain's prefill popularity by exp(decode_shift * N(0,1)).
  double skew = 1.0;
  double skew_spread = 0.3;
  double domain_shift = 0.5;
  double decode_shift = 0.3;

  // Dynamics. Each of a token's k slots at a layer is filled from one of three sources:
  // with probability `stickiness` the previous token's expert in that slot (same layer),
  // else with probability `affinity` a partner (affinity map) of this token's expert in that
  // slot at the previous layer, else a draw from the layer's popularity. Slots are distinct.
  double stickiness = 0.3;
  double affinity = 0.3;
  // Affinity weights are raised to this power (> 1: each expert follows fewer partners), then
  // balanced so that the affinity source keeps the next layer's popularity.
  double affinity_sharpness = 1.0;
  int affinity_partners = 4;  // partners per expert in the parametric affinity map
  double decode_mix = 0.0;    // decode popularity := (1 - mix) decode + mix prefill

  // Fitted non-parametric parts (empty: parametric).
  std::vector<double> popularity;  // [domain][phase][layer][expert] weights, phase 0 = prefill
  // Rows: expert a at layer l -> (partner at layer l + 1, weight). Either one row per
  // [transition][expert] ((layers - 1) * experts rows, shared by all domains and phases) or
  // per [domain][phase][transition][expert].
  std::vector<std::vector<std::pair<int, double>>> affinity_map;
  // [phase][layer][expert] multipliers of the affinity weights of partners at that layer,
  // applied after the balancing (empty: none). The balancing matches single draws, but a
  // token-layer draws k partners from one sharp row without replacement, so a hub partner can
  // still be over-selected; the fit measures the loads and corrects them here.
  std::vector<double> affinity_bias;

  // What fit_like measured (targets, calibrated values); informative only, not used to generate.
  nlohmann::json fit = nlohmann::json::object();

  // Throws Error{usage} when inconsistent (e.g. top_k > experts, sizes of fitted parts).
  void validate() const;
};

nlohmann::json params_to_json(const SynthParams& p);
// Throws Error{bad_input} naming `what` when the JSON does not describe valid parameters.
SynthParams params_from_json(const nlohmann::json& j, const std::string& what);

TraceSet synthesize(const SynthParams& p, const Progress& progress = {});

// The metrics that `fit_like` matches, of one trace.
struct FitMetrics {
  std::vector<double> max_over_mean;  // all phases, per layer
  double max_over_mean_mean = 0;
  double spearman_mean = 0;  // prefill vs decode; 0 when a phase is empty
  bool has_spearman = false;
  double layer_coverage = 0;  // layer_coverage_top20 mean
  double token_coverage = 0;  // token_coverage_top20 mean
};
FitMetrics fit_metrics(const TraceSet& set);

struct FitOptions {
  int max_rounds = 20;        // most calibration rounds (each generates and measures one trace;
                              // the loop stops early once every metric is within tolerance)
  double tolerance = 0.02;    // stop when every matched metric is within this relative error
  std::function<void(const std::string&)> log;  // progress lines; may be empty
};

// Parameters whose synthetic traces reproduce `real`: its shape, request lengths and domains,
// its per-domain/per-phase/per-layer popularity, its layer-transition partners, plus scalars
// (stickiness, affinity, decode_mix) calibrated by generating and measuring.
SynthParams fit_like(const TraceSet& real, const FitOptions& options = {});

}  // namespace moeplan::trace
