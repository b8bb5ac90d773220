// moeplan place: placeholder registration; the subcommand is being built (see its issue).
#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"

namespace moeplan::cli {

void register_place(CLI::App& app) {
  auto* cmd = app.add_subcommand("place", "(not built yet)");
  cmd->group("");  // hidden until it works
  cmd->callback([] { throw Error(ErrorKind::usage, {}, "moeplan place is not built yet"); });
}

}  // namespace moeplan::cli
