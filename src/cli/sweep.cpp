// moeplan sweep GRID.yaml: the analytic model over a grid of models x hardware x engines x
// formats x layouts x loads x lengths, as CSV (one row per point, infeasible points with their
// reason) and optionally the Pareto frontier of per-GPU throughput vs TPOT.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/perf/sweep.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace moeplan::cli {

void register_sweep(CLI::App& app) {
  struct Opts {
    std::string grid, out, calibration;
    bool pareto = false, progress = false;
    double max_ttft_s = 0, max_tpot_s = 0;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("sweep", "Estimate every point of a grid (models x hardware x layouts x loads) to CSV");
  cmd->add_option("grid", o->grid, "Grid YAML (schema: docs/perf-model.md, \"Sweeps\")")->required();
  cmd->add_option("-o,--output", o->out, "CSV to write (atomically); without it and without --pareto, CSV on stdout");
  cmd->add_flag("--pareto", o->pareto, "Print the frontier of per-GPU throughput vs TPOT");
  cmd->add_option("--max-ttft", o->max_ttft_s, "Frontier: only points with TTFT <= this many seconds")->check(CLI::PositiveNumber);
  cmd->add_option("--max-tpot", o->max_tpot_s, "Frontier: only points with TPOT <= this many seconds")->check(CLI::PositiveNumber);
  cmd->add_option("--calibration", o->calibration, "Calibration YAML for the backends (default data/calibration/silicon-dense.yaml)");
  cmd->add_option("--threads", o->threads, "Threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 1024));
  cmd->add_flag("--progress", o->progress, "Progress on stderr even when it is not a terminal");
  cmd->callback([o] {
    perf::SweepGrid grid = perf::load_sweep_grid(o->grid);
    perf::CalibrationSet cal;
    const bool calibrated = std::any_of(grid.backends.begin(), grid.backends.end(), [](const std::string& b) { return b != "none"; });
    if (calibrated) cal = perf::load_calibration(o->calibration.empty() ? perf::default_calibration_path() : o->calibration);
    perf::Sweep sweep(std::move(grid), calibrated ? &cal : nullptr);
#ifdef _OPENMP
    if (o->threads > 0) omp_set_num_threads(o->threads);
#endif
    const bool csv_stdout = o->out.empty() && !o->pareto;
    const bool csv = !o->out.empty() || csv_stdout;
    auto progress = stderr_progress("sweep points", o->progress);
    const auto t0 = std::chrono::steady_clock::now();
    perf::SweepRun run;
    auto go = [&](std::ostream& os) {
      if (csv) os << perf::Sweep::csv_header();
      run = perf::run_sweep(sweep, o->max_ttft_s, o->max_tpot_s, csv, [&](const std::string& block) { os << block; },
                            progress);
    };
    if (!o->out.empty()) io::write_atomic(o->out, go);
    else go(std::cout);  // the CSV, or (with --pareto and no -o) nothing before the frontier
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "moeplan: sweep: %llu points (%llu feasible) in %.3f s%s%s\n",
                 static_cast<unsigned long long>(run.points), static_cast<unsigned long long>(run.feasible), secs,
                 o->out.empty() ? "" : ", written to ", o->out.c_str());
    if (!o->pareto) return;
    std::cout << fmt::format("Pareto frontier: per-GPU throughput vs TPOT, {} of {} feasible points{}{}\n", run.pareto.size(),
                             run.feasible, o->max_ttft_s > 0 ? fmt::format(", TTFT <= {} s", o->max_ttft_s) : "",
                             o->max_tpot_s > 0 ? fmt::format(", TPOT <= {} s", o->max_tpot_s) : "");
    std::cout << fmt::format("  {:>10} {:>10} {:>14}  {}\n", "TPOT ms", "TTFT ms", "tok/s/GPU", "configuration");
    for (const perf::ParetoPoint& p : run.pareto)
      std::cout << fmt::format("  {:>10.3f} {:>10.1f} {:>14.1f}  {}\n", p.tpot_s * 1e3, p.ttft_s * 1e3,
                               p.throughput_tokens_per_s_per_gpu, sweep.describe(p.index));
  });
}

}  // namespace moeplan::cli
