// moeplan::analysis — the whole routing characterisation of a trace set, as `moeplan analyze`
// prints it. Each metric family lives in its own header; this only composes them.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "moeplan/analysis/counts.hpp"
#include "moeplan/analysis/coverage.hpp"
#include "moeplan/analysis/imbalance.hpp"
#include "moeplan/analysis/loads.hpp"
#include "moeplan/analysis/prefill_decode.hpp"

namespace moeplan::analysis {

struct ReportOptions {
  // Which phases get an imbalance entry: nullopt = every phase with tokens (plus `all`).
  std::optional<PhaseSel> phase;
};

struct Report {
  Counts counts;
  std::optional<Imbalance> imbalance[3];  // indexed by PhaseSel
  std::optional<PrefillDecode> prefill_decode;  // only when both phases have tokens
  Coverage coverage;
};

Report analyze(const trace::TraceSet& set, const ReportOptions& options = {});

// The oracle structure: counts, imbalance.<phase>, prefill_decode, layer_coverage_top20,
// token_coverage_top20.
nlohmann::ordered_json to_json(const Report& r);

// A few lines for people.
std::string summary_text(const Report& r, PhaseSel phase);

}  // namespace moeplan::analysis
