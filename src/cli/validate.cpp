// moeplan validate FORMAT FILE: the analytic model against measured timings.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/perf/validate.hpp"

namespace moeplan::cli {

namespace {

nlohmann::json stats_json(const std::map<std::string, perf::ErrorStats>& m, const char* field) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [metric, s] : m) {
    if (std::string(field) == "median") j[metric] = s.median_abs_pct;
    else if (std::string(field) == "p90") j[metric] = s.p90_abs_pct;
    else j[metric] = s.median_signed_pct;
  }
  return j;
}

nlohmann::json block_json(const std::map<std::string, perf::ErrorStats>& m, std::size_t n) {
  return {{"n", n},
          {"median_abs_pct_error", stats_json(m, "median")},
          {"p90_abs_pct_error", stats_json(m, "p90")},
          {"median_signed_pct_error", stats_json(m, "signed")}};
}

nlohmann::json report_json(const perf::ValidationReport& r, bool rows) {
  nlohmann::json j = block_json(r.overall, r.predictions.size());
  j["format"] = r.format;
  j["file"] = r.file;
  j["rows"] = r.rows;
  j["group_key"] = r.group_key;
  nlohmann::json subsets = nlohmann::json::object();
  for (const auto& [k, m] : r.by_subset) subsets[k] = block_json(m, m.empty() ? 0 : m.begin()->second.n);
  j["by_subset"] = subsets;
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& [k, m] : r.by_group) groups[k] = block_json(m, r.group_rows.at(k));
  j["by_group"] = groups;
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : r.skipped) skipped.push_back({{"line", s.line}, {"id", s.id}, {"reason", s.reason}});
  j["skipped"] = skipped;
  if (rows) {
    nlohmann::json preds = nlohmann::json::array();
    for (const auto& p : r.predictions) {
      nlohmann::json row = {{"line", p.line}, {"id", p.id}, {"group", p.group}};
      for (const auto& [metric, mp] : p.metrics) row[metric] = {{"measured", mp.first}, {"predicted", mp.second}};
      preds.push_back(row);
    }
    j["predictions"] = preds;
  }
  return j;
}

void print_block(const std::string& label, const std::map<std::string, perf::ErrorStats>& m, std::size_t n) {
  std::string line = fmt::format("  {:<58} n {:>5}", label, n);
  for (const auto& [metric, s] : m)
    line += fmt::format("   {} {:5.1f}% (p90 {:5.1f}%, bias {:+5.1f}%)", metric, s.median_abs_pct, s.p90_abs_pct, s.median_signed_pct);
  std::cout << line << "\n";
}

}  // namespace

void register_validate(CLI::App& app) {
  struct Opts {
    std::string format, file, backend, calibration, fit_out, fit_splitwise_out;
    std::vector<std::string> train_models, train_hardware;
    bool json = false, rows = false, uncalibrated = false, pooled = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("validate", "Predict measured timings (silicon, splitwise, vidur-mlp) and report the errors");
  cmd->add_option("format", o->format, "silicon | splitwise | vidur-mlp")
      ->required()
      ->check(CLI::IsMember({"silicon", "splitwise", "vidur-mlp"}));
  cmd->add_option("file", o->file, "The measurement CSV")->required();
  cmd->add_flag("--json", o->json, "Print JSON (median_abs_pct_error, p90_abs_pct_error, by_group, skipped)");
  cmd->add_flag("--rows", o->rows, "With --json: every row's measured and predicted values");
  cmd->add_option("--backend", o->backend, "Calibration entry to use (silicon default: the row's engine; splitwise/vidur-mlp default: uncalibrated)")
      ->check(CLI::IsMember({"trtllm", "vllm", "sglang", "splitwise-2024"}));
  cmd->add_option("--calibration", o->calibration,
                  "Calibration YAML (default data/calibration/silicon-dense.yaml; with --backend splitwise-2024, "
                  "data/calibration/splitwise-2024.yaml)");
  cmd->add_flag("--uncalibrated", o->uncalibrated, "Use the uncalibrated default efficiencies");
  cmd->add_option("--fit-dense", o->fit_out, "silicon only: fit the calibration on the dense rows and write it to this YAML");
  cmd->add_option("--fit-splitwise", o->fit_splitwise_out,
                  "splitwise only: fit the splitwise-2024 entry on the training rows, write it to this YAML and report "
                  "every row with it");
  cmd->add_option("--train-models", o->train_models, "With --fit-splitwise: models to fit on (default all)")->delimiter(',');
  cmd->add_flag("--pooled", o->pooled, "With --fit-splitwise: one entry for all hardware instead of one per system");
  cmd->add_option("--train-hardware", o->train_hardware, "With --fit-splitwise: hardware to fit on (default all)")->delimiter(',');
  cmd->callback([o] {
    std::vector<char> bytes = io::read_file(o->file);
    std::string_view text(bytes.data(), bytes.size());
    perf::CalibrationSet cal;
    perf::ValidateOptions opt;
    opt.backend = o->backend;
    if (o->format == "silicon") {
      auto rows = perf::parse_silicon_csv(text, o->file);
      if (!o->fit_out.empty()) {
        cal = perf::fit_silicon_dense(rows);
        std::string yaml = perf::calibration_yaml(
            cal, "# Fitted by `moeplan validate silicon FILE --fit-dense` on the dense-model aggregated rows\n"
                 "# (Llama-3.1, Qwen3-32B) of the AIConfigurator silicon file; the MoE rows are the test.\n"
                 "# Efficiencies only: hardware figures come from the system YAML. docs/validation.md.\n");
        io::write_atomic(o->fit_out, [&](std::ostream& os) { os << yaml; });
        opt.calibration = &cal;
      } else if (!o->uncalibrated) {
        cal = perf::load_calibration(o->calibration.empty() ? perf::default_calibration_path() : o->calibration);
        opt.calibration = &cal;
      }
      auto rep = perf::validate_silicon(rows, o->file, opt);
      if (o->json) return print_json(report_json(rep, o->rows));
      std::cout << fmt::format("{}: {} rows, {} predicted, {} skipped\n", o->file, rep.rows, rep.predictions.size(), rep.skipped.size());
      print_block("all", rep.overall, rep.predictions.size());
      for (const auto& [k, m] : rep.by_subset) print_block(k, m, m.begin()->second.n);
      for (const auto& [k, m] : rep.by_group) print_block(k, m, rep.group_rows.at(k));
      return;
    }
    if (!o->fit_out.empty()) throw_usage("--fit-dense applies to the silicon format only");
    if (!o->fit_splitwise_out.empty()) {
      if (o->format != "splitwise") throw_usage("--fit-splitwise applies to the splitwise format only");
      perf::SplitwiseFitOptions fo;
      fo.train_models = o->train_models;
      fo.train_hardware = o->train_hardware;
      fo.per_hardware = !o->pooled;
      cal = perf::fit_splitwise(perf::parse_splitwise_csv(text, o->file), fo);
      cal.source = o->fit_splitwise_out;
      std::string yaml = perf::calibration_yaml(
          cal, fmt::format("# Fitted by `moeplan validate splitwise FILE --fit-splitwise` on the rows of models [{}] and\n"
                           "# hardware [{}] (empty: all) of the splitwise measurements; the other rows are held out.\n"
                           "# The 2024 static-batch stack (eager, no CUDA graphs): docs/validation.md \"Splitwise\".\n",
                           fmt::join(o->train_models, ", "), fmt::join(o->train_hardware, ", ")));
      io::write_atomic(o->fit_splitwise_out, [&](std::ostream& os) { os << yaml; });
      opt.calibration = &cal;
      opt.backend = fo.backend;
    } else if (!o->uncalibrated) {
      std::string path = o->calibration;
      if (path.empty())
        path = o->backend == "splitwise-2024" ? perf::splitwise_calibration_path() : perf::default_calibration_path();
      cal = perf::load_calibration(path);
      opt.calibration = &cal;
    }
    auto rep = o->format == "splitwise" ? perf::validate_splitwise(perf::parse_splitwise_csv(text, o->file), o->file, opt)
                                        : perf::validate_vidur_mlp(perf::parse_vidur_mlp_csv(text, o->file), o->file, opt);
    if (o->json) return print_json(report_json(rep, o->rows));
    std::cout << fmt::format("{}: {} rows, {} predicted, {} skipped\n", o->file, rep.rows, rep.predictions.size(), rep.skipped.size());
    print_block("all", rep.overall, rep.predictions.size());
    for (const auto& [k, m] : rep.by_subset) print_block(k, m, m.begin()->second.n);
    for (const auto& [k, m] : rep.by_group) print_block(k, m, rep.group_rows.at(k));
  });
}

}  // namespace moeplan::cli
