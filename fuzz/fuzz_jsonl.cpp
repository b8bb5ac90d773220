// libFuzzer target: the moeplan JSONL reader on arbitrary bytes. A bad input must end in
// moeplan::Error. Whatever it accepts (and assemble accepts) must survive write_jsonl and read
// back identical; a difference aborts, so the fuzzer reports it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/jsonl.hpp"

namespace mt = moeplan::trace;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mt::TraceSet set;
  try {
    std::vector<mt::ParsedFile> files;
    files.push_back(mt::parse_jsonl({reinterpret_cast<const char*>(data), size}, "fuzz/1.jsonl", "fuzz"));
    set = mt::assemble(std::move(files), {});
  } catch (const moeplan::Error&) {
    return 0;
  }
  std::ostringstream os;
  mt::write_jsonl(set, os);
  const std::string text = os.str();
  std::vector<mt::ParsedFile> again;
  again.push_back(mt::parse_jsonl({text.data(), text.size()}, "fuzz/2.jsonl", "fuzz"));
  if (!mt::same_content(set, mt::assemble(std::move(again), {}))) std::abort();
  return 0;
}
