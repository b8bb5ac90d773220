// moeplan trace convert: any supported input -> .moet, or moeplan JSONL (both lossless).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/jsonl.hpp"
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
  auto* cmd = trace.add_subcommand("convert", "Import traces and write them as one .moet (or .jsonl) file");
  o->in.add_to(cmd);
  cmd->add_option("-o,--output", o->output,
                  "Output file, written atomically: .moet, or moeplan JSONL when the name ends in .jsonl")
      ->required();
  cmd->add_flag("--compress", o->compress, "zstd-compress the column blocks (smaller; no mmap on load)");
  cmd->add_option("--level", o->level, "zstd level with --compress")->check(CLI::Range(1, 19));
  cmd->callback([o] {
    const bool jsonl = o->output.ends_with(".jsonl");
    if (jsonl && o->compress) throw Error(ErrorKind::usage, {}, "--compress applies to .moet output only");
    trace::TraceSet set = o->in.load();
    if (jsonl)
      io::write_atomic(o->output, [&](std::ostream& out) { trace::write_jsonl(set, out); });
    else
      trace::save_moet(set, o->output, {o->compress, o->level});
    std::cerr << fmt::format("wrote {}: {} requests, {} tokens\n", o->output, set.requests.size(),
                             set.num_tokens());
  });
}

}  // namespace moeplan::cli
