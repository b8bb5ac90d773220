// moeplan traffic: placeholder registration; the subcommand is being built (see its issue).
#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {

void register_traffic(CLI::App& app) {
  auto* cmd = app.add_subcommand("traffic", "(not built yet)");
  cmd->group("");  // hidden until it works
  cmd->callback([] { throw Error(ErrorKind::usage, {}, "moeplan traffic is not built yet"); });
}

}  // namespace moeplan::cli
