// moeplan::trace — moeplan's own JSONL trace format (docs/formats.md).
// The incremental reader (JsonlStream, behind parse_jsonl in import.hpp) and the writer.
// write_jsonl followed by parse_jsonl + assemble gives back the same content (same_content),
// router weights included.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>

#include "moeplan/trace/import.hpp"
#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

// Reads JSONL fed in pieces of any size (a piece may end mid-line): the sink's `header` is
// called once with the model, then `request` for each request line, in order. Memory is one
// line at a time. Errors name the file, the line and the field (Error{bad_input}).
class JsonlStream {
 public:
  struct Sink {
    std::function<void(const ModelInfo&)> header;
    std::function<void(RequestRouting)> request;
  };
  JsonlStream(std::string path, std::string domain, Sink sink);
  ~JsonlStream();
  void feed(std::span<const char> bytes);
  // The input ended: reads a last line without '\n', checks for a header and a request.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes a header line and one line per request. Weights are written in the shortest form
// that reads back as the same float. Throws Error{io} when the stream fails.
void write_jsonl(const TraceSet& set, std::ostream& out);

}  // namespace moeplan::trace
