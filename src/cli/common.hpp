// Options and output helpers shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "moeplan/trace/import.hpp"

namespace moeplan::cli {

// Trace inputs as every trace-reading command takes them: files, directories, or several.
struct TraceInputs {
  std::vector<std::string> paths;
  std::string domain;
  int experts = 0;
  std::string model_name;
  bool progress = false;

  void add_to(CLI::App* cmd);
  trace::TraceSet load() const;
};

// A progress callback that draws "label: done/total" on stderr when stderr is a terminal
// (or always, with force), at most a few times a second, and nothing for short work.
// With `bytes`, done/total are byte counts and are shown in MiB.
trace::Progress stderr_progress(const std::string& label, bool force, bool bytes = false);

// Prints JSON with round-trip precision for doubles (nlohmann dumps max_digits10).
void print_json(const nlohmann::json& j);

// Writes JSON to a file atomically.
void write_json_file(const std::string& path, const nlohmann::json& j);

}  // namespace moeplan::cli
