// moeplan::trace — importers: files in foreign formats -> TraceSet.
// Owns: format detection by content, input expansion (files, directories), the per-format
// parsers, and assembly of parsed requests into one TraceSet. Each parser validates while it
// parses and reports the exact file / record / field of the first problem (Error{bad_input}).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

enum class Format {
  paper_c_json,    // "Orders in Chaos" dataset: one JSON array of steps per request
  moe_beyond_csv,  // MoE-Beyond CSV: Layer ID,Batch Number,Token,Activated Expert IDs
  npy,             // vLLM routed-experts dump, one [tokens, layers, k] array per request
  npz,             // several such arrays in one numpy zip archive
  jsonl,           // moeplan's own line format (docs/trace-format.md)
  moet,            // moeplan's native binary store
};
const char* format_name(Format f);

struct ImportOptions {
  std::string domain;      // when non-empty, the domain label of every request
  int num_experts = 0;     // E; 0 = from the file's metadata, else max id + 1
  std::string model_name;  // when non-empty, overrides the model name
  Progress progress;       // input bytes read (as stored on disk) of all input bytes
  // JSONL files at least this large on disk are streamed in blocks (bounded memory, one
  // thread) instead of being read whole and parsed in parallel with other files.
  std::uint64_t stream_jsonl_from_bytes = std::uint64_t{16} << 20;
};

// One request as a parser produces it, before assembly into the dense array.
struct RequestRouting {
  std::string id;
  std::string domain;
  std::string source;
  std::uint32_t prefill_tokens = 0;
  std::uint32_t decode_tokens = 0;
  std::vector<std::uint16_t> ids;  // [token][moe_layer][k], prefill tokens first
  std::vector<float> weights;      // empty or one per id
};

// What one input file yields: its model shape (num_experts 0 when the file does not say)
// and its requests.
struct ParsedFile {
  std::string path;  // the input file (parse_file sets it; empty for bytes parsed in memory)
  ModelInfo model;
  std::vector<RequestRouting> requests;
};

// Detects the format of one file from its first bytes (zstd is looked through).
// Throws Error{bad_input} when no importer recognises it.
Format detect_format(const std::string& path);

// Expands the inputs: a directory becomes every trace file below it, in natural order
// (digit runs compare as numbers: 2.json before 10.json); files stay in the given order.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs);

// The domain a file gets by default: the name of its parent folder.
std::string default_domain(const std::string& path);

// Parses one file of a known format. `domain` is the label for its requests.
ParsedFile parse_file(const std::string& path, Format format, const std::string& domain);

// Per-format parsers over bytes already in memory (zstd already removed). `path` is used for
// messages and ids only. These are what the fuzz targets call.
ParsedFile parse_paper_c_json(std::span<const char> bytes, const std::string& path,
                              const std::string& domain);
ParsedFile parse_moe_beyond_csv(std::span<const char> bytes, const std::string& path,
                                const std::string& domain);
ParsedFile parse_npy(std::span<const char> bytes, const std::string& path,
                     const std::string& domain, const std::string& sidecar_json);
ParsedFile parse_npz(std::span<const char> bytes, const std::string& path,
                     const std::string& domain, const std::string& sidecar_json);
ParsedFile parse_jsonl(std::span<const char> bytes, const std::string& path,
                       const std::string& domain);

// Merges parsed files (in order) into one TraceSet through a TraceBuilder (builder.hpp):
// checks that all agree on MoE layers and top-k, fixes E (options, else the files' metadata,
// else max id + 1), picks the id width, builds the domain table in first-seen order, and
// checks the result.
TraceSet assemble(std::vector<ParsedFile> files, const ImportOptions& options);

// The whole import: expand, detect, parse in parallel in windows of files (deterministic
// order), append each file to one TraceBuilder as soon as its turn comes. Large JSONL files
// (ImportOptions::stream_jsonl_from_bytes) are streamed in blocks instead, so that memory
// stays about one routing array whatever the file size. A single .moet input is loaded
// directly (memory-mapped when uncompressed).
TraceSet import_traces(const std::vector<std::string>& inputs, const ImportOptions& options);

// The inverse of assemble for one request (used to merge several .moet inputs and by tests).
RequestRouting extract_request(const TraceSet& set, std::size_t request_index);

}  // namespace moeplan::trace
