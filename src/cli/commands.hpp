// The CLI's subcommands. Each src/cli/<name>.cpp registers one and does only argument
// parsing and printing; the work is in the library.
#pragma once

#include <CLI/CLI.hpp>

namespace moeplan::cli {

void register_trace_info(CLI::App& trace);
void register_trace_convert(CLI::App& trace);
void register_trace_validate(CLI::App& trace);
void register_trace_synth(CLI::App& trace);
void register_analyze(CLI::App& app);
void register_estimate(CLI::App& app);
void register_validate(CLI::App& app);
void register_sweep(CLI::App& app);
void register_place(CLI::App& app);
void register_traffic(CLI::App& app);
void register_eplb(CLI::App& app);

}  // namespace moeplan::cli
