// moeplan trace convert: any supported input -> .moet (lossless).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/trace/store.hpp"

namespace moeplan::cli {

void register_trace_convert(CLI::App& trace) {
  struct Opts {
    TraceInputs in;
    std::string output;
    bool compress = false;
    int level = 3;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = trace.add_subcommand("convert", "Import traces and write them as one .moet file");
  o->in.add_to(cmd);
  cmd->add_option("-o,--output", o->output, "Output .moet file (written atomically)")->required();
  cmd->add_flag("--compress", o->compress, "zstd-compress the column blocks (smaller; no mmap on load)");
  cmd->add_option("--level", o->level, "zstd level with --compress")->check(CLI::Range(1, 19));
  cmd->callback([o] {
    trace::TraceSet set = o->in.load();
    trace::save_moet(set, o->output, {o->compress, o->level});
    std::cerr << fmt::format("wrote {}: {} requests, {} tokens\n", o->output, set.requests.size(),
                             set.num_tokens());
  });
}

}  // namespace moeplan::cli
