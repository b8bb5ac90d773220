// moeplan: the command-line front end. Parses arguments, runs one subcommand, maps errors to
// the documented exit codes (docs/errors.md) and prints them as one line on stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>

#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"moeplan: plan and understand Mixture-of-Experts inference from real routing traces"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "moeplan 0.1.0");
  CLI::App* trace = app.add_subcommand("trace", "Load, convert, validate and synthesise routing traces");
  trace->require_subcommand(1);
  moeplan::cli::register_trace_info(*trace);
  moeplan::cli::register_trace_convert(*trace);
  moeplan::cli::register_trace_validate(*trace);
  moeplan::cli::register_trace_synth(*trace);
  moeplan::cli::register_analyze(app);
  moeplan::cli::register_estimate(app);
  moeplan::cli::register_validate(app);
  moeplan::cli::register_sweep(app);
  moeplan::cli::register_place(app);
  moeplan::cli::register_traffic(app);
  moeplan::cli::register_eplb(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : moeplan::exit_code(moeplan::ErrorKind::usage);
  } catch (const moeplan::Error& e) {
    std::fprintf(stderr, "moeplan: %s error: %s\n", moeplan::kind_name(e.kind()), e.what());
    return moeplan::exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "moeplan: out of memory\n");
    return moeplan::exit_code(moeplan::ErrorKind::io);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moeplan: internal error: %s\n", e.what());
    return moeplan::exit_code(moeplan::ErrorKind::internal);
  }
  return 0;
}
