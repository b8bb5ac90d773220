// The .moet native store. Layout (all integers little-endian), see docs/trace-format.md:
//   [header 64 B][metadata JSON][block directory][blocks, each 64-byte aligned]
#include "moeplan/trace/store.hpp"

#include <bit>
#include <cstring>
#include <ostream>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"

namespace moeplan::trace {
namespace {

static_assert(std::endian::native == std::endian::little, ".moet I/O assumes a little-endian host");

constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kDirEntrySize = 64;
constexpr std::size_t kAlign = 64;
constexpr std::uint32_t kFlagCompressed = 1;
constexpr std::uint32_t kCodecNone = 0, kCodecZstd = 1;

struct Header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t flags;
  std::uint64_t metadata_size;    // metadata starts right after the header
  std::uint64_t metadata_xxh3;
  std::uint32_t block_count;      // directory starts right after the metadata
  std::uint32_t reserved0;
  std::uint64_t directory_xxh3;   // of all directory entries
  std::uint64_t reserved1;
  std::uint64_t header_xxh3;      // of the 56 bytes before it
};
static_assert(sizeof(Header) == kHeaderSize);

struct DirEntry {
  char name[16];
  std::uint32_t codec;
  std::uint32_t elem_width;
  std::uint64_t offset;
  std::uint64_t stored_size;
  std::uint64_t raw_size;
  std::uint64_t xxh3;  // of the stored bytes
  std::uint64_t reserved;
};
static_assert(sizeof(DirEntry) == kDirEntrySize);

std::uint64_t align_up(std::uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

std::span<const std::byte> as_bytes_of(const void* p, std::size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

nlohmann::json metadata_of(const TraceSet& set) {
  nlohmann::json m;
  m["format"] = "moet";
  m["version"] = kMoetVersion;
  m["model"] = {{"name", set.model.name},
                {"num_layers", set.model.num_layers},
                {"moe_layer_ids", set.model.moe_layer_ids},
                {"num_experts", set.model.num_experts},
                {"top_k", set.model.top_k}};
  m["domains"] = set.domains;
  nlohmann::json ids = nlohmann::json::array(), dom = nlohmann::json::array(),
                 src = nlohmann::json::array(), pre = nlohmann::json::array(),
                 dec = nlohmann::json::array();
  for (const auto& r : set.requests) {
    ids.push_back(r.id);
    dom.push_back(r.domain);
    src.push_back(r.source);
    pre.push_back(r.prefill_tokens);
    dec.push_back(r.decode_tokens);
  }
  m["requests"] = {{"id", ids}, {"domain", dom}, {"source", src},
                   {"prefill_tokens", pre}, {"decode_tokens", dec}};
  m["provenance"] = set.provenance;
  return m;
}

struct Block {
  std::string name;
  std::uint32_t elem_width;
  std::span<const std::byte> raw;
};

}  // namespace

bool is_moet(std::span<const char> head) {
  return head.size() >= sizeof(kMoetMagic) && std::memcmp(head.data(), kMoetMagic, sizeof(kMoetMagic)) == 0;
}

void save_moet(const TraceSet& set, const std::string& path, const SaveOptions& options) {
  set.check(path);
  const std::string meta = metadata_of(set).dump();
  std::vector<Block> blocks;
  blocks.push_back({"ids", static_cast<std::uint32_t>(set.ids.width()),
                    as_bytes_of(set.ids.data(), set.ids.bytes())});
  if (set.has_weights())
    blocks.push_back({"weights", 4, as_bytes_of(set.weights.data(), set.weights.size() * 4)});

  // Compress first so that the directory can be written before the blocks.
  std::vector<std::vector<char>> compressed(blocks.size());
  std::vector<DirEntry> dir(blocks.size());
  std::uint64_t pos = align_up(kHeaderSize + meta.size() + blocks.size() * kDirEntrySize);
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    DirEntry& e = dir[b];
    std::memset(&e, 0, sizeof e);
    std::strncpy(e.name, blocks[b].name.c_str(), sizeof e.name - 1);
    e.elem_width = blocks[b].elem_width;
    e.raw_size = blocks[b].raw.size();
    std::span<const std::byte> stored = blocks[b].raw;
    if (options.compress) {
      compressed[b] = io::zstd_compress(
          {reinterpret_cast<const char*>(stored.data()), stored.size()}, options.level);
      stored = as_bytes_of(compressed[b].data(), compressed[b].size());
      e.codec = kCodecZstd;
    } else {
      e.codec = kCodecNone;
    }
    e.stored_size = stored.size();
    e.xxh3 = io::checksum(stored);
    e.offset = pos;
    pos = align_up(pos + stored.size());
  }

  Header h{};
  std::memcpy(h.magic, kMoetMagic, sizeof h.magic);
  h.version = kMoetVersion;
  h.flags = options.compress ? kFlagCompressed : 0;
  h.metadata_size = meta.size();
  h.metadata_xxh3 = io::checksum(as_bytes_of(meta.data(), meta.size()));
  h.block_count = static_cast<std::uint32_t>(blocks.size());
  h.directory_xxh3 = io::checksum(as_bytes_of(dir.data(), dir.size() * sizeof(DirEntry)));
  h.header_xxh3 = io::checksum(as_bytes_of(&h, offsetof(Header, header_xxh3)));

  io::write_atomic(path, [&](std::ostream& out) {
    std::uint64_t written = 0;
    auto put = [&](const void* p, std::size_t n) {
      out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
      written += n;
    };
    auto pad_to = [&](std::uint64_t target) {
      static const char zeros[kAlign] = {};
      while (written < target) put(zeros, std::min<std::uint64_t>(kAlign, target - written));
    };
    put(&h, sizeof h);
    put(meta.data(), meta.size());
    put(dir.data(), dir.size() * sizeof(DirEntry));
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      pad_to(dir[b].offset);
      if (options.compress)
        put(compressed[b].data(), compressed[b].size());
      else
        put(blocks[b].raw.data(), blocks[b].raw.size());
    }
  });
}

TraceSet load_moet(const std::string& path) {
  auto map = std::make_shared<io::MappedFile>(path);
  const std::span<const std::byte> file = map->bytes();
  auto bad = [&](const std::string& record, const std::string& field, const std::string& msg) {
    throw_bad_input(path, record, field, msg);
  };
  if (file.size() < kHeaderSize) bad("header", "", "file too short for a .moet header");
  Header h;
  std::memcpy(&h, file.data(), sizeof h);
  if (std::memcmp(h.magic, kMoetMagic, sizeof h.magic) != 0) bad("header", "magic", "not a .moet file");
  if (h.version != kMoetVersion)
    bad("header", "version", "unsupported version " + std::to_string(h.version) +
                                 " (this moeplan reads version " + std::to_string(kMoetVersion) + ")");
  if (io::checksum(file.first(offsetof(Header, header_xxh3))) != h.header_xxh3)
    bad("header", "checksum", "header checksum mismatch (file corrupted)");
  auto in_file = [&](std::uint64_t off, std::uint64_t n) { return off <= file.size() && n <= file.size() - off; };
  if (!in_file(kHeaderSize, h.metadata_size)) bad("metadata", "", "extends past end of file");
  auto meta_bytes = file.subspan(kHeaderSize, h.metadata_size);
  const std::uint64_t directory_offset = kHeaderSize + h.metadata_size;
  if (io::checksum(meta_bytes) != h.metadata_xxh3) bad("metadata", "checksum", "metadata checksum mismatch (file corrupted)");
  if (h.block_count > 64 || !in_file(directory_offset, std::uint64_t{h.block_count} * kDirEntrySize))
    bad("directory", "", "block directory out of range");
  if (io::checksum(file.subspan(directory_offset, std::uint64_t{h.block_count} * kDirEntrySize)) !=
      h.directory_xxh3)
    bad("directory", "checksum", "block directory checksum mismatch (file corrupted)");

  TraceSet set;
  try {
    auto m = nlohmann::json::parse(reinterpret_cast<const char*>(meta_bytes.data()),
                                   reinterpret_cast<const char*>(meta_bytes.data()) + meta_bytes.size());
    const auto& model = m.at("model");
    set.model.name = model.at("name").get<std::string>();
    set.model.num_layers = model.at("num_layers").get<int>();
    set.model.moe_layer_ids = model.at("moe_layer_ids").get<std::vector<int>>();
    set.model.num_experts = model.at("num_experts").get<int>();
    set.model.top_k = model.at("top_k").get<int>();
    set.domains = m.at("domains").get<std::vector<std::string>>();
    const auto& rq = m.at("requests");
    const auto& ids = rq.at("id");
    const auto& dom = rq.at("domain");
    const auto& src = rq.at("source");
    const auto& pre = rq.at("prefill_tokens");
    const auto& dec = rq.at("decode_tokens");
    if (dom.size() != ids.size() || src.size() != ids.size() || pre.size() != ids.size() ||
        dec.size() != ids.size())
      bad("metadata", "requests", "request columns have different lengths");
    set.requests.resize(ids.size());
    std::uint64_t offset = 0;
    for (std::size_t r = 0; r < ids.size(); ++r) {
      // get<std::uint32_t>() would silently truncate 1.5 or wrap -1: only unsigned integers.
      if (!dom[r].is_number_unsigned() || !pre[r].is_number_unsigned() || !dec[r].is_number_unsigned())
        bad("metadata", "request " + std::to_string(r),
            "domain, prefill_tokens and decode_tokens must be non-negative integers");
      Request& q = set.requests[r];
      q.id = ids[r].get<std::string>();
      q.domain = dom[r].get<std::uint32_t>();
      q.source = src[r].get<std::string>();
      q.prefill_tokens = pre[r].get<std::uint32_t>();
      q.decode_tokens = dec[r].get<std::uint32_t>();
      q.token_offset = offset;
      offset += q.tokens();
    }
    if (m.contains("provenance")) set.provenance = m.at("provenance");
  } catch (const nlohmann::json::exception& e) {
    bad("metadata", "", std::string("invalid metadata JSON: ") + e.what());
  }
  if (set.model.top_k <= 0 || set.model.moe_layer_ids.empty() || set.model.num_experts <= 0 ||
      set.model.num_experts > 65535 || set.model.top_k > set.model.num_experts)
    bad("metadata", "model", "invalid model shape");

  // Sizes derived from the metadata must not wrap around: a crafted token count whose product
  // with layers x k overflows would otherwise match a tiny block and be read far past it.
  std::uint64_t expect_ids = 0, expect_bytes = 0;
  if (__builtin_mul_overflow(set.num_tokens(), std::uint64_t{set.ids_per_token()}, &expect_ids) ||
      __builtin_mul_overflow(expect_ids, std::uint64_t{4}, &expect_bytes))
    bad("metadata", "requests", "token counts too large (routing size overflows)");
  bool have_ids = false;
  for (std::uint32_t b = 0; b < h.block_count; ++b) {
    DirEntry e;
    std::memcpy(&e, file.data() + directory_offset + b * kDirEntrySize, sizeof e);
    e.name[sizeof e.name - 1] = '\0';
    std::string name = e.name;
    std::string rec = "block \"" + name + "\"";
    if (!in_file(e.offset, e.stored_size)) bad(rec, "offset", "extends past end of file");
    // The writer aligns every block to 64 bytes; a misaligned block would be read through
    // misaligned uint16 / float pointers (undefined behaviour) from the mmap.
    if (e.offset % kAlign != 0) bad(rec, "offset", "not 64-byte aligned");
    auto stored = file.subspan(e.offset, e.stored_size);
    if (io::checksum(stored) != e.xxh3) bad(rec, "checksum", "checksum mismatch (file corrupted)");
    if (e.codec != kCodecNone && e.codec != kCodecZstd) bad(rec, "codec", "unknown codec");
    if (e.codec == kCodecNone && e.raw_size != e.stored_size) bad(rec, "raw_size", "size mismatch");
    // Shapes are checked before anything is decompressed; unknown blocks are skipped unread
    // (later minor versions may add columns).
    if (name == "ids") {
      if (e.elem_width != 1 && e.elem_width != 2) bad(rec, "elem_width", "must be 1 or 2");
      if (e.raw_size != expect_ids * e.elem_width)
        bad(rec, "raw_size", "does not match the request token counts in the metadata");
    } else if (name == "weights") {
      if (e.elem_width != 4 || e.raw_size != expect_bytes) bad(rec, "raw_size", "weights shape mismatch");
    } else {
      continue;
    }

    // The bytes of the block: in place (mmap) or decompressed into an owned buffer.
    std::shared_ptr<const void> owner = map;
    const std::byte* data = stored.data();
    if (e.codec == kCodecZstd) {
      auto raw = std::make_shared<std::vector<char>>(io::zstd_decompress(
          {reinterpret_cast<const char*>(stored.data()), stored.size()}, path + ": " + rec));
      if (raw->size() != e.raw_size) bad(rec, "raw_size", "decompressed size mismatch");
      data = reinterpret_cast<const std::byte*>(raw->data());
      owner = raw;
    }
    if (name == "ids") {
      set.ids = ExpertIds::view(owner, data, expect_ids, static_cast<int>(e.elem_width));
      have_ids = true;
    } else {
      set.weights.resize(expect_ids);
      std::memcpy(set.weights.data(), data, e.raw_size);
    }
  }
  if (!have_ids) bad("directory", "ids", "no routing block");
  set.check(path);
  return set;
}

}  // namespace moeplan::trace
