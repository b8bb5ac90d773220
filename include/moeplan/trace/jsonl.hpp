// moeplan::trace — moeplan's own JSONL trace format (docs/formats.md).
// The reader is parse_jsonl (import.hpp); this is the writer. write_jsonl followed by
// parse_jsonl + assemble gives back the same content (same_content), router weights included.
#pragma once

#include <ostream>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

// Writes a header line and one line per request. Weights are written in the shortest form
// that reads back as the same float. Throws Error{io} when the stream fails.
void write_jsonl(const TraceSet& set, std::ostream& out);

}  // namespace moeplan::trace
