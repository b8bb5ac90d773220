// moeplan trace info: counts and shape of a trace set.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/trace/summary.hpp"

namespace moeplan::cli {

void register_trace_info(CLI::App& trace) {
  struct Opts {
    TraceInputs in;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = trace.add_subcommand("info", "Print the counts and shape of a trace set");
  o->in.add_to(cmd);
  cmd->add_flag("--json", o->json, "Print JSON (keys: requests, prefill_tokens, decode_tokens, ...)");
  cmd->callback([o] {
    trace::TraceSet set = o->in.load();
    nlohmann::json j = trace::info_json(set);
    if (o->json) {
      print_json(j);
      return;
    }
    std::cout << trace::info_text(set);
  });
}

}  // namespace moeplan::cli
