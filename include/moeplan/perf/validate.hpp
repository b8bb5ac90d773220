// moeplan::perf — `moeplan validate`: predict every row of a measurement file with the
// analytic model and report absolute % errors, overall, per subset and per group.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "moeplan/perf/calibration.hpp"
#include "moeplan/perf/measurements.hpp"

namespace moeplan::perf {

struct ErrorStats {
  std::size_t n = 0;
  double median_abs_pct = 0;
  double p90_abs_pct = 0;
  double median_signed_pct = 0;  // > 0: moeplan predicts slower than measured
};

struct RowPrediction {
  std::size_t line = 0;
  std::string id;
  std::string group;
  std::vector<std::string> subsets;                       // e.g. "agg", "moe"
  std::map<std::string, std::pair<double, double>> metrics;  // name -> (measured, predicted)
};

struct SkippedRow {
  std::size_t line = 0;
  std::string id;
  std::string reason;
};

struct ValidationReport {
  std::string format;
  std::string file;
  std::string group_key;  // e.g. "model|system|backend|mode"
  std::size_t rows = 0;
  std::vector<RowPrediction> predictions;
  std::vector<SkippedRow> skipped;
  std::map<std::string, ErrorStats> overall;                               // metric -> stats
  std::map<std::string, std::map<std::string, ErrorStats>> by_subset;      // subset -> metric -> stats
  std::map<std::string, std::map<std::string, ErrorStats>> by_group;       // group -> metric -> stats
  std::map<std::string, std::size_t> group_rows;
  void summarize();  // fills overall / by_subset / by_group from predictions
};

// 100 x |predicted - measured| / measured, as a signed value.
double pct_error(double measured, double predicted);
// The q-quantile (0..1) by linear interpolation; 0 for an empty list.
double quantile(std::vector<double> v, double q);

struct ValidateOptions {
  const CalibrationSet* calibration = nullptr;  // nullptr: Efficiency::defaults(), ServingParams{}
  std::string backend;                          // non-silicon formats: which engine's entry to use
};

ValidationReport validate_silicon(const std::vector<SiliconRow>& rows, const std::string& file, const ValidateOptions& o);
ValidationReport validate_splitwise(const std::vector<SplitwiseRow>& rows, const std::string& file, const ValidateOptions& o);
ValidationReport validate_vidur_mlp(const std::vector<VidurMlpRow>& rows, const std::string& file, const ValidateOptions& o);

// Fits one Calibration per (backend, precision) on the dense-model aggregated rows only
// (Llama-3.1, Qwen3-32B), minimising the mean |log(predicted / measured)| of TPOT and TTFT
// by coordinate search. Hardware figures are never fitted.
CalibrationSet fit_silicon_dense(const std::vector<SiliconRow>& rows);

// Fits the calibration entries (one per system unless per_hardware is false) for the static-batch stack of the splitwise measurements
// (docs/validation.md "Splitwise") on the rows of the listed models and hardware (empty: all),
// minimising the mean |log(predicted / measured)| of prompt and token time by coordinate search
// over the GEMM plateau and ramp, attention, memory and link efficiencies, per-operator and
// per-step overheads, a per-ring-step collective latency and the elementwise traffic factor.
// The rows left out are the held-out test.
struct SplitwiseFitOptions {
  std::string backend = "splitwise-2024";
  std::vector<std::string> train_models;    // splitwise model names (llama2-70b, bloom-176b)
  std::vector<std::string> train_hardware;  // a100-80gb, h100-80gb, h100-80gb-pcap
  bool per_hardware = true;                 // one entry per system (a100_sxm, h100_sxm), else one for all
};
CalibrationSet fit_splitwise(const std::vector<SplitwiseRow>& rows, const SplitwiseFitOptions& o);

// True for the rows calibration may use.
bool silicon_dense_row(const SiliconRow& r);

}  // namespace moeplan::perf
