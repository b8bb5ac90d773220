#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {

// PLACEHOLDER: being written (issue 2).
void register_trace_synth(CLI::App& trace) {
  auto* cmd = trace.add_subcommand("synth", "Generate a synthetic trace (not yet written)");
  cmd->callback([] { throw_usage("trace synth is not yet written"); });
}

}  // namespace moeplan::cli
