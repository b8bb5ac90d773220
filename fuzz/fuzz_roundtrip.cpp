// libFuzzer target: the round trip parse -> assemble -> write .moet -> read .moet. The bytes
// go to every text/binary importer that takes bytes without a sidecar (moeplan JSONL, Paper C
// JSON, MoE-Beyond CSV, npy, npz); each one that accepts them gives a TraceSet that is saved
// as .moet (plain, and zstd-compressed) and loaded back: the result must be same_content as
// what was saved, and must pass TraceSet::check. Any difference or any exception other than
// moeplan::Error on the parse side aborts; saving or loading a valid set must not throw at all.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"

namespace mt = moeplan::trace;

namespace {

std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/fuzz_roundtrip_" + std::to_string(::getpid()) +
           ".moet";
  }();
  return p;
}

void round_trip(const mt::TraceSet& set, bool compress) {
  const std::string path = temp_path();
  try {
    mt::save_moet(set, path, {.compress = compress, .level = 1});
    const mt::TraceSet back = mt::load_moet(path);
    if (!mt::same_content(set, back)) {
      std::fprintf(stderr, "round trip through .moet changed the content (compress=%d)\n", compress);
      std::abort();
    }
  } catch (const moeplan::Error& e) {
    std::fprintf(stderr, "a valid set failed to round-trip: %s\n", e.what());
    std::abort();
  }
  std::remove(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  using Parser = std::function<mt::ParsedFile()>;
  const Parser parsers[] = {
      [&] { return mt::parse_jsonl(bytes, "fuzz/1.jsonl", "fuzz"); },
      [&] { return mt::parse_paper_c_json(bytes, "fuzz/1.json", "fuzz"); },
      [&] { return mt::parse_moe_beyond_csv(bytes, "fuzz/1.csv", "fuzz"); },
      [&] { return mt::parse_npy(bytes, "fuzz/1.npy", "fuzz", ""); },
      [&] { return mt::parse_npz(bytes, "fuzz/1.npz", "fuzz", ""); },
  };
  for (const auto& parse : parsers) {
    mt::TraceSet set;
    try {
      std::vector<mt::ParsedFile> files;
      files.push_back(parse());
      set = mt::assemble(std::move(files), {});
    } catch (const moeplan::Error&) {
      continue;
    }
    set.check("fuzz");  // assemble's result must be valid (throws -> the fuzzer reports it)
    round_trip(set, false);
    round_trip(set, true);
  }
  return 0;
}
