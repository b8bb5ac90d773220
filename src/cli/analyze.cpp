// moeplan analyze: characterise the expert routing of a trace set (docs/metrics.md).
#include <charconv>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/analysis/layers.hpp"
#include "moeplan/analysis/matrices.hpp"
#include "moeplan/analysis/report.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {
namespace {

// "L1,L2" -> {L1, L2} (range checks happen where the layer count is known).
std::pair<int, int> parse_pair(const std::string& s) {
  const auto comma = s.find(',');
  int a = -1, b = -1;
  auto ok = [](const char* first, const char* last, int& v) {
    auto [end, ec] = std::from_chars(first, last, v);
    return first != last && ec == std::errc{} && end == last && v >= 0;
  };
  if (comma == std::string::npos || !ok(s.data(), s.data() + comma, a) ||
      !ok(s.data() + comma + 1, s.data() + s.size(), b))
    throw Error(ErrorKind::usage, {}, "--transition \"" + s + "\": expected two layer positions, e.g. 0,1");
  return {a, b};
}

}  // namespace

void register_analyze(CLI::App& app) {
  struct Opts {
    TraceInputs in;
    bool json = false;
    std::string phase, layers, matrices_dir, transition;
    bool matrices_json = false;
    std::optional<int> coactivation_layer;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("analyze", "Characterise expert routing: load imbalance, prefill/decode "
                                            "similarity, layer and token coverage, co-activation, domains");
  o->in.add_to(cmd);
  cmd->add_flag("--json", o->json, "Print JSON (the structure of docs/metrics.md)");
  cmd->add_option("--phase", o->phase,
                  "Report imbalance for this phase only (default: every phase with tokens; the "
                  "summary shows `all`)")
      ->check(CLI::IsMember({"prefill", "decode", "all"}));
  cmd->add_option("--layers", o->layers,
                  "Analyse only these MoE layers, by 0-based position in the MoE-layer list "
                  "(e.g. 0-5,10); they are treated as the model's only MoE layers");
  cmd->add_option("--matrices", o->matrices_dir,
                  "Write the count matrices as CSV into this directory: load_<phase>.csv, "
                  "transition_<L1>_<L2>.csv, coactivation_<L>.csv");
  cmd->add_flag("--matrices-json", o->matrices_json, "With --json: add the count matrices under `matrices`");
  cmd->add_option("--transition", o->transition,
                  "Layer pair of the transition matrix, positions L1,L2 (default 0,1)");
  cmd->add_option("--coactivation-layer", o->coactivation_layer,
                  "Layer position of the co-activation matrix (default 0; top-k > 1 only)");
  cmd->callback([o] {
    const bool want_matrices = !o->matrices_dir.empty() || o->matrices_json;
    if (o->matrices_json && !o->json) throw Error(ErrorKind::usage, {}, "--matrices-json needs --json");
    if ((!o->transition.empty() || o->coactivation_layer) && !want_matrices)
      throw Error(ErrorKind::usage, {}, "--transition and --coactivation-layer need --matrices or --matrices-json");
    analysis::MatrixOptions mopt;
    if (!o->transition.empty()) std::tie(mopt.from_layer, mopt.to_layer) = parse_pair(o->transition);
    mopt.coactivation_layer = o->coactivation_layer.value_or(0);

    trace::TraceSet set = o->in.load();
    if (!o->layers.empty())
      set = analysis::select_layers(set, analysis::parse_layer_list(o->layers, set.model.moe_layers()));
    static const std::map<std::string, analysis::PhaseSel> phases = {
        {"prefill", analysis::PhaseSel::prefill},
        {"decode", analysis::PhaseSel::decode},
        {"all", analysis::PhaseSel::all}};
    analysis::ReportOptions opt;
    if (!o->phase.empty()) opt.phase = phases.at(o->phase);
    // Bad matrix arguments fail before the (longer) analysis runs.
    if (want_matrices) analysis::check_matrix_options(mopt, set.model.moe_layers());
    std::optional<analysis::Matrices> matrices;
    opt.progress = stderr_progress("analysing: passes", o->in.progress);
    analysis::Report r = analysis::analyze(set, opt);
    if (want_matrices) {
      matrices = analysis::compute_matrices(set, r.loads, mopt);
      if (!o->matrices_dir.empty()) {
        auto written = analysis::write_matrices_csv(*matrices, o->matrices_dir);
        std::cerr << "wrote " << written.size() << " matrices to " << o->matrices_dir << "\n";
      }
    }
    if (o->json) {
      nlohmann::ordered_json j = analysis::to_json(r);
      if (o->matrices_json) j["matrices"] = analysis::to_json(*matrices);
      std::cout << j.dump(1) << "\n";
      return;
    }
    std::cout << analysis::summary_text(r, opt.phase.value_or(analysis::PhaseSel::all));
  });
}

}  // namespace moeplan::cli
