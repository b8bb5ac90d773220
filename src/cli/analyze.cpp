// moeplan analyze: characterise the expert routing of a trace set (docs/metrics.md).
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/analysis/report.hpp"

namespace moeplan::cli {

void register_analyze(CLI::App& app) {
  struct Opts {
    TraceInputs in;
    bool json = false;
    std::string phase;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("analyze", "Characterise expert routing: load imbalance, "
                                            "prefill/decode similarity, layer and token coverage");
  o->in.add_to(cmd);
  cmd->add_flag("--json", o->json, "Print JSON (the structure of docs/metrics.md)");
  cmd->add_option("--phase", o->phase,
                  "Report imbalance for this phase only (default: every phase with tokens; the "
                  "summary shows `all`)")
      ->check(CLI::IsMember({"prefill", "decode", "all"}));
  cmd->callback([o] {
    trace::TraceSet set = o->in.load();
    static const std::map<std::string, analysis::PhaseSel> phases = {
        {"prefill", analysis::PhaseSel::prefill},
        {"decode", analysis::PhaseSel::decode},
        {"all", analysis::PhaseSel::all}};
    analysis::ReportOptions opt;
    if (!o->phase.empty()) opt.phase = phases.at(o->phase);
    analysis::Report r = analysis::analyze(set, opt);
    if (o->json) {
      std::cout << analysis::to_json(r).dump(1) << "\n";
      return;
    }
    std::cout << analysis::summary_text(r, opt.phase.value_or(analysis::PhaseSel::all));
  });
}

}  // namespace moeplan::cli
