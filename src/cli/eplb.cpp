// moeplan eplb: placeholder registration; the subcommand is being built (see its issue).
#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {

void register_eplb(CLI::App& app) {
  auto* cmd = app.add_subcommand("eplb", "(not built yet)");
  cmd->group("");  // hidden until it works
  cmd->callback([] { throw Error(ErrorKind::usage, {}, "moeplan eplb is not built yet"); });
}

}  // namespace moeplan::cli
