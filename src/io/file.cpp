#include "moeplan/io/file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "moeplan/io/error.hpp"

namespace moeplan::io {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

bool is_zstd(std::span<const std::byte> head) {
  static constexpr unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  return head.size() >= 4 && std::memcmp(head.data(), magic, 4) == 0;
}

std::vector<char> zstd_decompress(std::span<const char> compressed, const std::string& what) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!ctx) throw Error(ErrorKind::internal, {what, "", ""}, "cannot create zstd context");
  std::vector<char> out;
  unsigned long long hint = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (hint != ZSTD_CONTENTSIZE_UNKNOWN && hint != ZSTD_CONTENTSIZE_ERROR && hint < (1ull << 34))
    out.reserve(hint);
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  std::vector<char> chunk(ZSTD_DStreamOutSize());
  // One decoding step into `chunk`; returns how many bytes it produced.
  std::size_t pending = 0;  // ZSTD's hint: 0 once a frame is complete and flushed
  auto step = [&] {
    ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
    pending = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(pending))
      throw Error(ErrorKind::bad_input, {what, "", ""}, std::string("zstd: ") + ZSTD_getErrorName(pending));
    out.insert(out.end(), chunk.data(), chunk.data() + o.pos);
    return o.pos;
  };
  while (in.pos < in.size) step();
  // Flush what the decoder still holds; no progress means the frame was cut short.
  while (pending != 0 && step() != 0) {
  }
  if (pending != 0) throw Error(ErrorKind::bad_input, {what, "", ""}, "zstd: truncated frame");
  return out;
}

std::vector<char> zstd_compress(std::span<const char> raw, int level) {
  std::vector<char> out(ZSTD_compressBound(raw.size()));
  std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n))
    throw Error(ErrorKind::internal, {}, std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_io(path, "cannot open: " + errno_text());
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) throw_io(path, "cannot read (not a regular file?)");
  in.seekg(0);
  std::vector<char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(bytes.data(), size)) throw_io(path, "read failed");
  if (is_zstd(std::as_bytes(std::span<const char>(bytes)))) return zstd_decompress(bytes, path);
  return bytes;
}

void read_pieces(const std::string& path, std::size_t piece_bytes,
                 const std::function<void(std::span<const char>, std::uint64_t)>& piece) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_io(path, "cannot open: " + errno_text());
  std::vector<char> raw(std::max<std::size_t>(piece_bytes, 4));
  std::uint64_t consumed = 0;
  auto read_some = [&]() -> std::size_t {
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (in.bad()) throw_io(path, "read failed");
    const auto n = static_cast<std::size_t>(in.gcount());
    consumed += n;
    return n;
  };
  std::size_t n = read_some();
  if (!is_zstd(std::as_bytes(std::span<const char>(raw.data(), n)))) {
    for (; n > 0; n = read_some()) piece({raw.data(), n}, consumed);
    return;
  }
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!ctx) throw Error(ErrorKind::internal, {path, "", ""}, "cannot create zstd context");
  std::vector<char> out(raw.size());
  std::size_t pending = 0;  // ZSTD's hint: 0 once a frame is complete and flushed
  // One decoding step from `in_buf` into `out`; returns how many bytes it produced.
  auto step = [&](ZSTD_inBuffer& in_buf) {
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    pending = ZSTD_decompressStream(ctx.get(), &o, &in_buf);
    if (ZSTD_isError(pending))
      throw Error(ErrorKind::bad_input, {path, "", ""}, std::string("zstd: ") + ZSTD_getErrorName(pending));
    if (o.pos) piece({out.data(), o.pos}, consumed);
    return o.pos;
  };
  for (; n > 0; n = read_some()) {
    ZSTD_inBuffer in_buf{raw.data(), n, 0};
    while (in_buf.pos < in_buf.size) step(in_buf);
  }
  // Flush what the decoder still holds; no progress means the frame was cut short.
  ZSTD_inBuffer none{nullptr, 0, 0};
  while (pending != 0 && step(none) != 0) {
  }
  if (pending != 0) throw Error(ErrorKind::bad_input, {path, "", ""}, "zstd: truncated frame");
}

std::uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw_io(path, "cannot read: " + ec.message());
  return size;
}

std::string read_head(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string head(std::max<std::size_t>(n, 4), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (!is_zstd(std::as_bytes(std::span<const char>(head)))) return head.substr(0, n);
  // Decompress only a prefix of the frame.
  in.clear();
  in.seekg(0);
  std::vector<char> comp(std::min<std::size_t>(1 << 20, std::max<std::size_t>(4 * n, 1 << 16)));
  in.read(comp.data(), static_cast<std::streamsize>(comp.size()));
  comp.resize(static_cast<std::size_t>(in.gcount()));
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  std::string out(n, '\0');
  ZSTD_inBuffer ib{comp.data(), comp.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  while (ob.pos < ob.size && ib.pos < ib.size) {
    std::size_t r = ZSTD_decompressStream(ctx, &ob, &ib);
    if (ZSTD_isError(r) || r == 0) break;
  }
  ZSTD_freeDCtx(ctx);
  out.resize(ob.pos);
  return out;
}

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_io(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_io(path, "not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    // MAP_POPULATE: every mapped file is read in full (checksums), so prefault it in one go.
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw_io(path, "mmap failed: " + errno_text());
    }
    data_ = static_cast<const std::byte*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void write_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  namespace fs = std::filesystem;
  fs::path target(path);
  // Unique per process and call so that concurrent writers never share a temp file.
  std::random_device rd;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw_io(path, "cannot create " + tmp + ": " + errno_text());
      write(out);
      out.flush();
      if (!out) throw_io(path, "write failed");
    }
    std::error_code ec;
    fs::rename(tmp, target, ec);
    if (ec) throw_io(path, "cannot rename temporary file: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

std::uint64_t checksum(std::span<const std::byte> bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace moeplan::io
