// moeplan::trace — the native binary store (.moet), specified in docs/trace-format.md.
// Owns: writing (atomic) and reading (mmap when uncompressed, checksums always verified).
#pragma once

#include <span>
#include <string>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

inline constexpr char kMoetMagic[8] = {'M', 'O', 'E', 'T', 'R', 'A', 'C', 'E'};
inline constexpr std::uint32_t kMoetVersion = 1;

struct SaveOptions {
  bool compress = false;  // zstd-compress the column blocks (then loads copy, not map)
  int level = 3;          // zstd level when compressing
};

// True when the bytes start with the .moet magic.
bool is_moet(std::span<const char> head);

// Writes atomically (temp file + rename). Throws Error{io} on failure.
void save_moet(const TraceSet& set, const std::string& path, const SaveOptions& options = {});

// Reads a .moet file. Uncompressed routing is used in place from a read-only mmap.
// Every block's xxh3 checksum is verified. Throws Error{bad_input} naming the block on any
// corruption, Error{io} when the file cannot be opened.
TraceSet load_moet(const std::string& path);

}  // namespace moeplan::trace
