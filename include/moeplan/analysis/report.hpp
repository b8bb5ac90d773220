// moeplan::analysis — the whole routing characterisation of a trace set, as `moeplan analyze`
// prints it. Each metric family lives in its own header; this only composes them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "moeplan/analysis/coactivation.hpp"
#include "moeplan/analysis/counts.hpp"
#include "moeplan/analysis/coverage.hpp"
#include "moeplan/analysis/domains.hpp"
#include "moeplan/analysis/imbalance.hpp"
#include "moeplan/analysis/loads.hpp"
#include "moeplan/analysis/prefill_decode.hpp"

namespace moeplan::analysis {

struct ReportOptions {
  // Which phases get an imbalance entry: nullopt = every phase with tokens (plus `all`).
  std::optional<PhaseSel> phase;
  // Called after each of the report's passes over the routing (done/total passes); may be empty.
  trace::Progress progress;
};

struct Report {
  Counts counts;
  std::vector<int> moe_layer_ids;  // model layer id of each analysed MoE layer
  PhaseLoads loads;                // kept for the matrix outputs (layers x E per phase)
  std::optional<Imbalance> imbalance[3];  // indexed by PhaseSel
  std::optional<PrefillDecode> prefill_decode;  // only when both phases have tokens
  Coverage coverage;
  std::optional<Coactivation> coactivation;  // only when top_k > 1
  std::optional<Domains> domains;            // only with >= 2 domains that have tokens
};

Report analyze(const trace::TraceSet& set, const ReportOptions& options = {});

// The oracle structure: counts, moe_layer_ids, imbalance.<phase>, prefill_decode,
// layer_coverage_top20, token_coverage_top20, coactivation, domains.
nlohmann::ordered_json to_json(const Report& r);

// About 40 lines for people: the imbalance table, hot experts, prefill/decode, coverage,
// co-activation, domain separation.
std::string summary_text(const Report& r, PhaseSel phase);

}  // namespace moeplan::analysis
