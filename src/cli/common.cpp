#include "cli/common.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "moeplan/io/file.hpp"

namespace moeplan::cli {

void TraceInputs::add_to(CLI::App* cmd) {
  cmd->add_option("inputs", paths,
                  "Trace files or directories (Paper C JSON, MoE-Beyond CSV[.zst], .npy/.npz, "
                  "moeplan JSONL, .moet); domains default to each file's folder name")
      ->required();
  cmd->add_option("--domain", domain, "Domain label for every request (overrides folder names)");
  cmd->add_option("--experts", experts,
                  "Routed experts per MoE layer (default: from the file, else max id + 1)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--model-name", model_name, "Model name to record");
  cmd->add_flag("--progress", progress, "Show progress on stderr even when it is not a terminal");
}

trace::TraceSet TraceInputs::load() const {
  trace::ImportOptions opt;
  opt.domain = domain;
  opt.num_experts = experts;
  opt.model_name = model_name;
  opt.progress = stderr_progress("reading", progress, /*bytes=*/true);
  return trace::import_traces(paths, opt);
}

trace::Progress stderr_progress(const std::string& label, bool force, bool bytes) {
  if (!force && !::isatty(STDERR_FILENO)) return {};
  using clock = std::chrono::steady_clock;
  struct State {
    clock::time_point start = clock::now();
    clock::time_point last{};
    bool shown = false;
    bool closed = false;  // the final line is out; later calls print nothing
  };
  auto st = std::make_shared<State>();
  return [st, label, bytes](std::size_t done, std::size_t total) {
    if (st->closed) return;
    auto now = clock::now();
    bool finished = done >= total;
    // Quiet for the first second; then at most 5 updates a second.
    if (now - st->start < std::chrono::seconds(1) && !(finished && st->shown)) return;
    if (!finished && now - st->last < std::chrono::milliseconds(200)) return;
    st->last = now;
    st->shown = true;
    if (bytes)
      std::fprintf(stderr, "\r%s: %.0f/%.0f MiB", label.c_str(), static_cast<double>(done) / (1 << 20),
                   static_cast<double>(total) / (1 << 20));
    else
      std::fprintf(stderr, "\r%s: %zu/%zu", label.c_str(), done, total);
    if (finished) {
      std::fprintf(stderr, "\n");
      st->closed = true;
    }
    std::fflush(stderr);
  };
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(1) << "\n"; }

void write_json_file(const std::string& path, const nlohmann::json& j) {
  io::write_atomic(path, [&](std::ostream& out) { out << j.dump(1) << "\n"; });
}

}  // namespace moeplan::cli
