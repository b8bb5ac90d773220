// libFuzzer target: the Paper C JSON parser on arbitrary bytes. A bad input must end in
// moeplan::Error; anything else (crash, other exception, leak, UB) is a finding. Whenever the
// fast scanner accepts an input, the full simdjson importer must accept it with the same result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "trace/import_paper_c_fast.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  moeplan::trace::ParsedFile fast;
  bool fast_ok = false;
  try {
    fast = moeplan::trace::parse_paper_c_json(bytes, "fuzz/1.json", "fuzz");
    fast_ok = true;
  } catch (const moeplan::Error&) {
  }
  try {
    auto full = moeplan::trace::detail::parse_paper_c_json_full(bytes, "fuzz/1.json", "fuzz");
    if (!fast_ok) std::abort();  // the combined parser refused what the full one accepts
    if (!(full.model == fast.model) || full.requests.size() != fast.requests.size() ||
        full.requests[0].ids != fast.requests[0].ids ||
        full.requests[0].prefill_tokens != fast.requests[0].prefill_tokens ||
        full.requests[0].decode_tokens != fast.requests[0].decode_tokens)
      std::abort();
  } catch (const moeplan::Error&) {
    if (fast_ok) std::abort();  // the fast scanner accepted a file the full importer refuses
  }
  return 0;
}
