#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {

// PLACEHOLDER: being written (issue 2 summary; issue 3 completes it).
void register_analyze(CLI::App& app) {
  auto* cmd = app.add_subcommand("analyze", "Characterise expert routing (not yet written)");
  cmd->callback([] { throw_usage("analyze is not yet written"); });
}

}  // namespace moeplan::cli
