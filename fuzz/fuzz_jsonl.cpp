// libFuzzer target: the moeplan JSONL reader on arbitrary bytes. A bad input must end in
// moeplan::Error. Two checks beyond "no crash", each aborting on a difference:
// * streaming: the same bytes fed in small pieces (1-64 bytes, lines cut anywhere) through
//   JsonlStream into a TraceBuilder, as big files are imported, give the same set or the same
//   error message as parsing them whole;
// * round trip: whatever is accepted survives write_jsonl and reads back identical.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/builder.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/jsonl.hpp"

namespace mt = moeplan::trace;

namespace {

// The set, or the error message.
struct Outcome {
  std::optional<mt::TraceSet> set;
  std::string error;
};

Outcome whole(std::string_view bytes) {
  Outcome o;
  try {
    std::vector<mt::ParsedFile> files;
    files.push_back(mt::parse_jsonl({bytes.data(), bytes.size()}, "fuzz/1.jsonl", "fuzz"));
    files.back().path = "fuzz/1.jsonl";  // as parse_file sets it
    o.set = mt::assemble(std::move(files), {});
  } catch (const moeplan::Error& e) {
    o.error = e.what();
  }
  return o;
}

Outcome streamed(std::string_view bytes, std::size_t piece) {
  Outcome o;
  try {
    mt::TraceBuilder builder({});
    mt::JsonlStream stream("fuzz/1.jsonl", "fuzz",
                           {[&](const mt::ModelInfo& m) { builder.begin_file(m, "fuzz/1.jsonl"); },
                            [&](mt::RequestRouting r) { builder.add(std::move(r)); }});
    for (std::size_t at = 0; at < bytes.size(); at += piece)
      stream.feed({bytes.data() + at, std::min(piece, bytes.size() - at)});
    stream.finish();
    o.set = builder.finish();
  } catch (const moeplan::Error& e) {
    o.error = e.what();
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Outcome a = whole(bytes);
  Outcome b = streamed(bytes, size ? 1 + data[size / 2] % 64 : 1);
  if (a.set.has_value() != b.set.has_value() || a.error != b.error) std::abort();
  if (a.set && !mt::same_content(*a.set, *b.set)) std::abort();
  if (!a.set) return 0;

  std::ostringstream os;
  mt::write_jsonl(*a.set, os);
  const std::string text = os.str();
  std::vector<mt::ParsedFile> again;
  again.push_back(mt::parse_jsonl({text.data(), text.size()}, "fuzz/2.jsonl", "fuzz"));
  if (!mt::same_content(*a.set, mt::assemble(std::move(again), {}))) std::abort();
  return 0;
}
