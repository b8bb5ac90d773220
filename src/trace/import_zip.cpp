// ZIP reading for .npz (see import_zip.hpp). Layout reference: PKWARE APPNOTE 6.3, sections
// 4.3.7 (local header), 4.3.12 (central directory header), 4.3.16 (end of central directory).
#include "trace/import_zip.hpp"

#include <zlib.h>

#include <algorithm>

#include "moeplan/io/error.hpp"

namespace moeplan::trace::zip {
namespace {

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEndSig = 0x06054b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;
// Deflate cannot expand data by more than about 1032:1; a larger claimed size is a lie
// (and would make us allocate gigabytes for a few bytes of input).
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// Little-endian field reads; callers have checked that [at, at + N) is inside `b`.
std::uint16_t u16(std::span<const char> b, std::size_t at) {
  auto p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
std::uint32_t u32(std::span<const char> b, std::size_t at) {
  auto p = reinterpret_cast<const unsigned char*>(b.data()) + at;
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
         (std::uint32_t{p[3]} << 24);
}

[[noreturn]] void fail(const std::string& path, const std::string& record, const std::string& msg) {
  throw_bad_input(path, record, "", msg);
}

std::string member_record(const std::string& name) { return "member \"" + name + "\""; }

// The end-of-central-directory record is the last 22 bytes plus a trailing comment of at most
// 65535 bytes. Accept a candidate only when its comment length reaches exactly the end of the
// file, so that signature bytes inside member data are not mistaken for it.
std::size_t find_end_record(std::span<const char> b, const std::string& path) {
  if (b.size() < kEndSize) fail(path, "", "not a zip archive: too short for an end record");
  const std::size_t last = b.size() - kEndSize;
  const std::size_t first = last > 0xFFFF ? last - 0xFFFF : 0;
  for (std::size_t pos = last + 1; pos-- > first;) {
    if (u32(b, pos) == kEndSig && pos + kEndSize + u16(b, pos + 20) == b.size()) return pos;
  }
  fail(path, "", "corrupt zip archive: end of central directory record not found");
}

}  // namespace

std::vector<Member> list_members(std::span<const char> b, const std::string& path) {
  const std::size_t end = find_end_record(b, path);
  const std::uint16_t disk = u16(b, end + 4), cd_disk = u16(b, end + 6);
  const std::uint16_t on_disk = u16(b, end + 8), total = u16(b, end + 10);
  const std::uint32_t cd_size = u32(b, end + 12), cd_offset = u32(b, end + 16);
  if (total == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)
    fail(path, "", "zip64 archives are not supported (over 65535 members or 4 GiB)");
  if (disk != 0 || cd_disk != 0 || on_disk != total)
    fail(path, "", "multi-disk zip archives are not supported");
  if (std::uint64_t{cd_offset} + cd_size > end)
    fail(path, "", "corrupt zip archive: central directory lies outside the file");

  std::vector<Member> members;
  members.reserve(total);
  std::size_t at = cd_offset;
  const std::size_t cd_end = std::size_t{cd_offset} + cd_size;
  for (std::uint16_t i = 0; i < total; ++i) {
    const std::string record = "central directory entry " + std::to_string(i);
    if (cd_end - at < kCentralSize || u32(b, at) != kCentralSig)
      fail(path, record, "corrupt zip archive: truncated or missing central directory entry");
    const std::uint16_t flags = u16(b, at + 8);
    Member m;
    m.method = u16(b, at + 10);
    m.crc32 = u32(b, at + 16);
    m.compressed_size = u32(b, at + 20);
    m.size = u32(b, at + 24);
    const std::size_t name_len = u16(b, at + 28), extra_len = u16(b, at + 30),
                      comment_len = u16(b, at + 32);
    const std::uint32_t local = u32(b, at + 42);
    if (cd_end - at - kCentralSize < name_len + extra_len + comment_len)
      fail(path, record, "corrupt zip archive: central directory entry overruns the directory");
    m.name.assign(b.data() + at + kCentralSize, name_len);
    at += kCentralSize + name_len + extra_len + comment_len;

    const std::string mrec = member_record(m.name);
    if (flags & 0x1) fail(path, mrec, "encrypted zip members are not supported");
    if (m.method != 0 && m.method != 8)
      fail(path, mrec, "unsupported zip compression method " + std::to_string(m.method) +
                           " (only stored and deflate)");
    if (m.compressed_size == 0xFFFFFFFF || m.size == 0xFFFFFFFF || local == 0xFFFFFFFF)
      fail(path, mrec, "zip64 members are not supported (over 4 GiB)");
    if (m.method == 0 && m.compressed_size != m.size)
      fail(path, mrec, "corrupt zip archive: stored member with differing sizes");
    if (m.method == 8 && m.size > std::uint64_t{m.compressed_size} * kMaxDeflateRatio + 1024)
      fail(path, mrec, "corrupt zip archive: impossible uncompressed size " + std::to_string(m.size));

    // The local header repeats the name and may carry a different extra field (numpy writes a
    // zip64 extra there); only its lengths matter, to find where the data starts.
    if (local > b.size() || b.size() - local < kLocalSize || u32(b, local) != kLocalSig)
      fail(path, mrec, "corrupt zip archive: bad local header offset");
    const std::uint64_t data = std::uint64_t{local} + kLocalSize + u16(b, local + 26) + u16(b, local + 28);
    if (data > b.size() || b.size() - data < m.compressed_size)
      fail(path, mrec, "corrupt zip archive: member data extends past the end of the file");
    m.data_offset = data;
    members.push_back(std::move(m));
  }
  return members;
}

std::vector<char> extract(std::span<const char> b, const Member& m, const std::string& path) {
  const std::string mrec = member_record(m.name);
  std::span<const char> in = b.subspan(static_cast<std::size_t>(m.data_offset), m.compressed_size);
  std::vector<char> out;
  if (m.method == 0) {
    out.assign(in.begin(), in.end());
  } else {
    out.resize(std::size_t{m.size} + 1);  // one spare byte detects output beyond the declared size
    z_stream zs{};
    if (inflateInit2(&zs, -15) != Z_OK)  // raw deflate: zip members have no zlib header
      throw Error(ErrorKind::internal, {path, mrec, ""}, "zlib initialisation failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&zs, Z_FINISH);
    const std::uint64_t produced = zs.total_out;
    inflateEnd(&zs);
    if (rc == Z_DATA_ERROR || rc == Z_MEM_ERROR)
      fail(path, mrec, "corrupt deflate data");
    if (rc != Z_STREAM_END && produced <= m.size)
      fail(path, mrec, "truncated deflate data");
    if (produced != m.size)
      fail(path, mrec, "deflate data is " + std::string(produced > m.size ? "longer" : "shorter") +
                           " than the declared size " + std::to_string(m.size));
    out.resize(m.size);
  }
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(out.data()),
                          static_cast<uInt>(out.size()));
  if (crc != m.crc32) fail(path, mrec, "CRC-32 mismatch (corrupt archive)");
  return out;
}

}  // namespace moeplan::trace::zip
