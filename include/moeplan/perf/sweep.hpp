// moeplan::perf — sweeps: every combination of models x hardware x engine calibration x
// weight formats x parallel layouts x load (static batch or serving concurrency) x input and
// output lengths, priced by the analytic model. A grid is read from YAML (schema in
// docs/perf-model.md, "Sweeps"); points are numbered in a fixed nested order so that results
// are identical and in the same order for any thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moeplan/perf/calibration.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/serving.hpp"

namespace moeplan::perf {

struct SweepGrid {
  std::string file;                    // source, for messages
  std::vector<std::string> models;     // zoo names, HF ids or config.json paths
  std::vector<std::string> hardware;   // presets or system YAML paths
  std::vector<std::string> backends{"none"};  // none (uncalibrated) | trtllm | vllm | sglang
  std::vector<std::string> dtypes{"auto"};    // weight format for every weight; auto: the config's
  std::vector<int> tp{1}, pp{1}, ep{1}, dp{1};
  std::vector<int> moe_tp;             // empty: derived (tp x dp / ep); else must equal it
  std::vector<std::int64_t> batch;        // static batches (estimate())
  std::vector<std::int64_t> concurrency;  // steady-state serving (serve_aggregated())
  std::vector<std::int64_t> input_len{1024}, output_len{256};
  // Options (grid key `options`), every combination too: pipeline micro-batches, share of the
  // collectives hidden behind compute, node-deduplicated all-to-all, all-reduce algorithm,
  // speculative decoding by the model's own MTP modules (draft_tokens 0 = none).
  std::vector<int> microbatches{1};
  std::vector<double> overlap{0};
  std::vector<int> a2a_dedup{0};  // 0 / 1
  std::vector<Efficiency::AllReduce> all_reduce{Efficiency::AllReduce::ring};
  std::vector<Speculation> speculation{Speculation{}};
};

// Throws Error{bad_input} naming the file and the field (e.g. `parallel.tp[2]`).
SweepGrid parse_sweep_grid(const std::string& text, const std::string& file);
SweepGrid load_sweep_grid(const std::string& path);

enum class SweepMode : std::uint8_t { batch, serving };

// Axis indices of one point, outermost first.
struct SweepIndex {
  int model = 0, hardware = 0, backend = 0, dtype = 0, tp = 0, pp = 0, ep = 0, dp = 0, moe_tp = 0;
  int microbatches = 0, overlap = 0, a2a_dedup = 0, all_reduce = 0, speculation = 0;
  int load = 0;  // < batch.size(): a batch; else concurrency[load - batch.size()]
  int input = 0, output = 0;
};

struct SweepResult {
  bool feasible = false;
  std::string reason;  // why not, when infeasible
  double ttft_s = 0, tpot_s = 0, e2e_s = 0;
  double throughput_tokens_per_s = 0, throughput_tokens_per_s_per_gpu = 0;
  double weights_bytes_per_gpu = 0, kv_cache_bytes_per_gpu = 0, total_bytes_per_gpu = 0, capacity_bytes_per_gpu = 0;
};

// A grid with its models, hardware and calibrations loaded; evaluate() is const and
// thread-safe.
class Sweep {
 public:
  // `calibration` is needed when a backend other than "none" is listed (Error{bad_input}
  // naming `backends[i]` when it has no entry). Models and hardware that do not load are
  // reported as Error{bad_input} naming `models[i]` / `hardware[i]`.
  Sweep(SweepGrid grid, const CalibrationSet* calibration);
  ~Sweep();
  Sweep(Sweep&&) noexcept;

  std::uint64_t size() const { return size_; }
  SweepIndex index(std::uint64_t i) const;
  SweepResult evaluate(std::uint64_t i) const;
  const SweepGrid& grid() const { return grid_; }

  // CSV: header line, and one row per point (appended to `out`, newline-terminated).
  static std::string csv_header();
  void csv_row(std::uint64_t i, const SweepResult& r, std::string& out) const;
  // Short text of a point's configuration, e.g. "deepseek-v3 h200_sxm trtllm fp8 tp8 pp1 ep8 dp1 c64 1024/256".
  std::string describe(std::uint64_t i) const;

 private:
  struct Impl;
  SweepGrid grid_;
  std::unique_ptr<Impl> impl_;
  std::uint64_t size_ = 0;
};

struct ParetoPoint {
  std::uint64_t index = 0;
  double throughput_tokens_per_s_per_gpu = 0, tpot_s = 0, ttft_s = 0;
};
// Frontier of per-GPU throughput (higher is better) vs TPOT (lower is better) over the
// candidates, ordered by TPOT ascending; ties broken by point index. Candidates are filtered by
// the caller (feasible, within the TTFT / TPOT limits).
std::vector<ParetoPoint> pareto_frontier(std::vector<ParetoPoint> candidates);

// Runs the whole sweep with OpenMP: calls `sink` with consecutive blocks of CSV rows in point
// order, and collects frontier candidates (feasible, ttft <= max_ttft_s, tpot <= max_tpot_s;
// limits <= 0 mean none). `progress(done, total)` is called from the calling thread.
struct SweepRun {
  std::uint64_t points = 0, feasible = 0;
  std::vector<ParetoPoint> pareto;
};
SweepRun run_sweep(const Sweep& s, double max_ttft_s, double max_tpot_s, bool write_csv,
                   const std::function<void(const std::string&)>& sink,
                   const std::function<void(std::size_t, std::size_t)>& progress);

}  // namespace moeplan::perf
