// moeplan trace validate: import, check every invariant, optionally round-trip through .moet.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/trace/store.hpp"

namespace moeplan::cli {

void register_trace_validate(CLI::App& trace) {
  struct Opts {
    TraceInputs in;
    bool round_trip = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = trace.add_subcommand(
      "validate", "Check that traces parse and are consistent (exit 0 when valid, 3 when not)");
  o->in.add_to(cmd);
  cmd->add_flag("--round-trip", o->round_trip,
                "Also save to a temporary .moet, reload it and compare everything");
  cmd->callback([o] {
    trace::TraceSet set = o->in.load();
    set.check(o->in.paths.front());
    if (o->round_trip) {
      namespace fs = std::filesystem;
      fs::path tmp = fs::temp_directory_path() / fmt::format("moeplan-validate-{}.moet", ::getpid());
      trace::save_moet(set, tmp.string());
      bool same = false;
      {
        trace::TraceSet back = trace::load_moet(tmp.string());
        same = trace::same_content(set, back);
      }
      fs::remove(tmp);
      if (!same) throw Error(ErrorKind::internal, {}, "round trip through .moet changed the trace");
    }
    std::cout << fmt::format("valid: {} requests, {} tokens, {} MoE layers, {} experts, top-{}{}\n",
                             set.requests.size(), set.num_tokens(), set.model.moe_layers(),
                             set.model.num_experts, set.model.top_k,
                             o->round_trip ? ", lossless .moet round trip" : "");
  });
}

}  // namespace moeplan::cli
