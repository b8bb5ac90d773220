// moeplan::trace — TraceBuilder: parsed requests in, one TraceSet out, in bounded memory.
// Owns the assembly rules shared by every importer: files agree on MoE layers and top-k, E
// (option, else the files' metadata, else max id + 1), the id width, the domain table in
// first-seen order, token offsets, and the final TraceSet::check. It parses nothing.
//
// Requests are appended in trace order into fixed-size chunks that already hold the compact
// id width (1 byte while every id < 256), and each request's own arrays are freed as it is
// appended. finish() moves the chunks into the one contiguous routing array, releasing each
// chunk as it is copied, so peak memory is about one routing array plus one chunk, however
// the input arrived (a huge JSONL file streamed line by line, or many small files).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "moeplan/trace/import.hpp"

namespace moeplan::trace {

class TraceBuilder {
 public:
  explicit TraceBuilder(ImportOptions options);

  // The model shape of the requests that follow, from one input file named `source`. The
  // first call fixes MoE layers and top-k; later files must agree (Error{bad_input} if not).
  void begin_file(const ModelInfo& model, const std::string& source);
  // Appends one request of the current file; its routing must match its token counts.
  void add(RequestRouting request);
  // begin_file + add for each request.
  void add_file(ParsedFile file);

  std::size_t requests() const { return requests_.size(); }
  // Fixes E, checks every id against it, and builds the TraceSet. Call once.
  TraceSet finish();

 private:
  template <class T>
  void append_ids(const std::vector<std::uint16_t>& ids);
  void widen();
  [[noreturn]] void report_id_out_of_range(int experts) const;
  std::uint16_t id_at(std::uint64_t index) const;

  ImportOptions options_;
  ModelInfo model_;
  bool have_model_ = false;
  std::string first_source_;
  int file_experts_ = 0;
  bool has_weights_ = false;

  std::vector<std::string> domains_;
  std::map<std::string, std::uint32_t> domain_index_;
  std::vector<Request> requests_;
  std::vector<std::uint16_t> request_max_id_;  // per request, to locate an id >= E in finish()
  std::uint32_t max_id_ = 0;

  // The routing so far, in chunks of kChunkIds ids: 1-byte ids until one needs 2 bytes.
  int width_ = 1;
  std::vector<std::vector<std::uint8_t>> ids8_;
  std::vector<std::vector<std::uint16_t>> ids16_;
  std::vector<std::vector<float>> weights_;
  std::uint64_t total_ids_ = 0;
  std::uint64_t tokens_ = 0;
};

}  // namespace moeplan::trace
