// moeplan::io — bytes in and out of files.
// Owns: whole-file reads (zstd-compressed inputs decompressed transparently), read-only
// memory maps, atomic writes (temp file beside the target, then rename), xxh3 checksums.
// Knows nothing about traces or any other format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace moeplan::io {

// True when the bytes start with the zstd frame magic.
bool is_zstd(std::span<const std::byte> head);

// Reads a whole file; if it is a zstd frame (by magic, not by name) returns the decompressed
// bytes. Throws Error{io} when it cannot be read, Error{bad_input} when decompression fails.
std::vector<char> read_file(const std::string& path);

// Streams a file in pieces of at most `piece_bytes`, zstd frames (by magic) decompressed on
// the fly: calls piece(bytes, consumed) in order, `consumed` being the bytes read from the
// file so far (for progress). Memory is about two pieces whatever the file size. Throws like
// read_file.
void read_pieces(const std::string& path, std::size_t piece_bytes,
                 const std::function<void(std::span<const char>, std::uint64_t consumed)>& piece);

// The size of a file on disk; throws Error{io} when it cannot be read.
std::uint64_t file_size(const std::string& path);

// Decompresses one or more zstd frames; `what` names the source in errors.
std::vector<char> zstd_decompress(std::span<const char> compressed, const std::string& what);
std::vector<char> zstd_compress(std::span<const char> raw, int level);

// A read-only memory map of a whole file. Movable, not copyable.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Writes a file atomically: `write` streams into a temporary file beside `path`, which is
// renamed over `path` only when `write` returns normally and the stream is good. On any
// exception the temporary file is removed and the exception propagates.
void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

// 64-bit XXH3 of a byte range.
std::uint64_t checksum(std::span<const std::byte> bytes);

// The first bytes of a file (up to n), decompressed if it is zstd; empty on failure to open.
std::string read_head(const std::string& path, std::size_t n);

}  // namespace moeplan::io
