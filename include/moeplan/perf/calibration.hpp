// moeplan::perf — calibrated efficiency parameters per serving engine (backend) and
// precision, fitted on the dense-model rows of the AIConfigurator silicon data only
// (docs/validation.md). They carry no hardware figures: peaks, bandwidths and latencies come
// from the system YAML, so the same entry applies to GPUs that were never fitted.
#pragma once

#include <string>
#include <vector>

#include "moeplan/perf/roofline.hpp"
#include "moeplan/perf/serving.hpp"

namespace moeplan::perf {

struct Calibration {
  std::string backend;    // trtllm | vllm | sglang
  std::string precision;  // bf16 | fp8 (4-bit weights use the bf16 entry: they compute in bf16 on Hopper)
  // Hardware (system name) the entry is for; "" = any. Only the splitwise-2024 entries set it
  // (the 2024 stack's host overheads differ between the DGX-A100 and DGX-H100 machines).
  std::string hardware;
  Efficiency efficiency;
  ServingParams serving;
  int fitted_rows = 0;    // dense silicon rows the entry was fitted on
};

// The precision class of the calibration entry for a run whose GEMMs take `activations`:
// "fp8" for 8-bit (W8A8), else "bf16". 4-bit runs (weight-only, or W4A4 on GPUs with fp4
// tensor cores) use the bf16 entry: no dense row is 4-bit, and the fp8 entries' host costs are
// fitted on other models (docs/validation.md "Calibration").
inline const char* calibration_class(DType activations) {
  return activations == DType::fp8 || activations == DType::int8 ? "fp8" : "bf16";
}

struct CalibrationSet {
  std::string source;  // file it was read from
  std::vector<Calibration> entries;
  // Exact (backend, precision) for `hardware` (an entry without hardware matches any); else
  // the backend's other precision; nullptr when the backend has no entry. Entries for another
  // hardware never match.
  const Calibration* find(const std::string& backend, const std::string& precision, const std::string& hardware = "") const;
};

// YAML: `calibrations:` list of {backend, precision, hardware (optional), fitted_rows, efficiency: {gemm,
// gemm_m_half (optional), attention, mem_bw, comm_bw, kernel_overhead_s,
// decode_kernel_overhead_s (optional), step_overhead_s, seq_overhead_s (optional),
// comm_hop_overhead_s, comm_large_bytes, comm_bw_large, elementwise_factor (all four
// optional)}, serving:
// {max_num_tokens, kv_memory_fraction, ttft_factor, ttft_factor_log2c, ttft_factor_per_request
// (optional)}}. Optional fields missing from older files take Efficiency::defaults() (or, for
// decode_kernel_overhead_s, kernel_overhead_s). Error{bad_input} naming the field.
CalibrationSet parse_calibration_yaml(const std::string& text, const std::string& file);
CalibrationSet load_calibration(const std::string& path);
// data/calibration/silicon-dense.yaml beside the bundled models (see zoo_dir()).
std::string default_calibration_path();
// data/calibration/splitwise-2024.yaml: the entry for the splitwise measurements' 2024 stack.
std::string splitwise_calibration_path();
std::string calibration_yaml(const CalibrationSet& set, const std::string& header_comment);

}  // namespace moeplan::perf
