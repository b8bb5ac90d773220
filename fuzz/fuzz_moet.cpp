// libFuzzer target: the .moet reader (load_moet) on arbitrary bytes. The reader is path based
// (it memory-maps the file), so each input is written to a private temp file first.
//
// Checksums would stop almost every mutation at the header, so each input is read twice: as
// it is (the checksum checks themselves are fuzzed), and with every checksum the bytes let us
// locate recomputed (header, metadata, directory, each in-range block), so that the fuzzer
// reaches the metadata, directory and block validation behind them. Only moeplan::Error may
// escape; whatever loads must pass TraceSet::check and read every id.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/store.hpp"

namespace mt = moeplan::trace;

namespace {

// Layout offsets of docs/trace-format.md (header 64 B, directory entries 64 B).
constexpr std::size_t kHeader = 64, kEntry = 64;
constexpr std::size_t kMetaSizeAt = 16, kMetaHashAt = 24, kBlockCountAt = 32, kDirHashAt = 40,
                      kHeaderHashAt = 56;
constexpr std::size_t kEntryOffsetAt = 24, kEntryStoredAt = 32, kEntryHashAt = 48;

template <class T>
T get(const std::vector<char>& b, std::size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
template <class T>
void put(std::vector<char>& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
std::uint64_t hash(const std::vector<char>& b, std::size_t at, std::size_t n) {
  return moeplan::io::checksum({reinterpret_cast<const std::byte*>(b.data()) + at, n});
}

// Recomputes every checksum whose span lies inside the bytes; false when nothing changed.
bool repair(std::vector<char>& b) {
  if (b.size() < kHeader) return false;
  const std::vector<char> before = b;
  const auto meta_size = get<std::uint64_t>(b, kMetaSizeAt);
  if (meta_size <= b.size() - kHeader) {
    put(b, kMetaHashAt, hash(b, kHeader, meta_size));
    const std::size_t dir = kHeader + meta_size;
    const std::uint64_t count = get<std::uint32_t>(b, kBlockCountAt);
    if (count <= 64 && count * kEntry <= b.size() - dir) {
      for (std::uint64_t i = 0; i < count; ++i) {
        const std::size_t e = dir + i * kEntry;
        const auto off = get<std::uint64_t>(b, e + kEntryOffsetAt);
        const auto n = get<std::uint64_t>(b, e + kEntryStoredAt);
        if (off <= b.size() && n <= b.size() - off) put(b, e + kEntryHashAt, hash(b, off, n));
      }
      put(b, kDirHashAt, hash(b, dir, count * kEntry));
    }
  }
  put(b, kHeaderHashAt, hash(b, 0, kHeaderHashAt));
  return b != before;
}

void load_and_use(const std::string& path) {
  try {
    const mt::TraceSet set = mt::load_moet(path);
    set.check(path);  // load_moet already did; a second call must agree
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < set.ids.size(); ++i) sum += set.ids[i];
    for (float w : set.weights) sum += static_cast<std::uint64_t>(w != w);
    if (sum == ~std::uint64_t{0}) std::abort();  // keeps the reads
  } catch (const moeplan::Error&) {
  }
}

std::string temp_path() {
  static const std::string p = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/fuzz_moet_" + std::to_string(::getpid()) + ".moet";
  }();
  return p;
}

void write_file(const std::string& path, const std::vector<char>& b) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!b.empty() && std::fwrite(b.data(), 1, b.size(), f) != b.size()) std::abort();
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<char> bytes(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size);
  const std::string path = temp_path();
  write_file(path, bytes);
  load_and_use(path);
  if (repair(bytes)) {
    write_file(path, bytes);
    load_and_use(path);
  }
  std::remove(path.c_str());
  return 0;
}
