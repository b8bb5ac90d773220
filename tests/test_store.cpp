// The .moet store: lossless round trips, mmap, corruption detection, atomic writes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::TempDir;

namespace {

// Two requests, 3 MoE layers, top-2; request "b" has no decode tokens.
mt::TraceSet small_set(int experts, bool with_weights) {
  std::vector<mt::ParsedFile> files(1);
  auto& f = files[0];
  f.model.name = "tiny";
  f.model.num_layers = 4;
  f.model.moe_layer_ids = {1, 2, 3};
  f.model.top_k = 2;
  f.model.num_experts = experts;
  mt::RequestRouting a;
  a.id = "a";
  a.domain = "math";
  a.source = "a.json";
  a.prefill_tokens = 2;
  a.decode_tokens = 1;
  for (int t = 0; t < 3; ++t)
    for (int l = 0; l < 3; ++l)
      for (int k = 0; k < 2; ++k) a.ids.push_back(static_cast<std::uint16_t>((t * 7 + l * 3 + k * 5) % experts));
  mt::RequestRouting b;
  b.id = "b";
  b.domain = "bio";
  b.source = "b.json";
  b.prefill_tokens = 1;
  b.ids = {static_cast<std::uint16_t>(experts - 1), 0, 1, 2, 3, 4};
  if (with_weights) {
    for (std::size_t i = 0; i < a.ids.size(); ++i) a.weights.push_back(0.25f * static_cast<float>(i));
    for (std::size_t i = 0; i < b.ids.size(); ++i) b.weights.push_back(-1.5f + static_cast<float>(i));
  }
  f.requests = {a, b};
  return mt::assemble(std::move(files), {});
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5A);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace

TEST(Store, AssemblePicksSmallestIdWidth) {
  EXPECT_EQ(small_set(64, false).ids.width(), 1);
  EXPECT_EQ(small_set(256, false).ids.width(), 1);
  EXPECT_EQ(small_set(257, false).ids.width(), 2);
}

TEST(Store, AssembleLaysOutRequestsContiguously) {
  auto s = small_set(16, false);
  ASSERT_EQ(s.requests.size(), 2u);
  EXPECT_EQ(s.requests[0].token_offset, 0u);
  EXPECT_EQ(s.requests[1].token_offset, 3u);
  EXPECT_EQ(s.num_tokens(), 4u);
  EXPECT_EQ(s.prefill_tokens(), 3u);
  EXPECT_EQ(s.decode_tokens(), 1u);
  EXPECT_EQ(s.domains, (std::vector<std::string>{"math", "bio"}));
  // Token 3 (request b's only token), layer 0, slot 0 is expert E-1 = 15.
  EXPECT_EQ(s.ids[3 * 6 + 0], 15u);
  // Token 1 of request a, layer 2, slot 1: (7 + 6 + 5) % 16 = 2.
  EXPECT_EQ(s.ids[1 * 6 + 2 * 2 + 1], 2u);
}

TEST(Store, RoundTripIsLosslessForEveryVariant) {
  TempDir dir;
  for (int experts : {16, 300})
    for (bool weights : {false, true})
      for (bool compress : {false, true}) {
        auto s = small_set(experts, weights);
        s.provenance["note"] = "x";
        std::string path = dir.file("t.moet");
        mt::save_moet(s, path, {compress, 3});
        auto back = mt::load_moet(path);
        EXPECT_TRUE(mt::same_content(s, back)) << experts << weights << compress;
        EXPECT_EQ(back.ids.width(), s.ids.width());
        EXPECT_EQ(back.provenance["note"], "x");
      }
  // Only the final file remains: no temporary files.
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"t.moet"});
}

TEST(Store, UncompressedRoutingIsMappedInPlace) {
  TempDir dir;
  auto s = small_set(16, false);
  std::string path = dir.file("t.moet");
  mt::save_moet(s, path);
  auto back = mt::load_moet(path);
  // The ids point into the mapping, 64-byte aligned, not into a heap copy.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(back.ids.data()) % 64, 0u);
  EXPECT_EQ(back.ids.size(), s.ids.size());
}

TEST(Store, EveryCorruptedByteIsDetected) {
  TempDir dir;
  auto s = small_set(16, true);
  std::string path = dir.file("t.moet");
  mt::save_moet(s, path);
  const auto size = std::filesystem::file_size(path);
  std::string good = dir.file("good.moet");
  std::filesystem::copy_file(path, good);
  // Flip each byte in turn: the load must either fail with bad_input or (only for padding
  // bytes, which no checksum covers) give back identical content.
  std::size_t detected = 0;
  for (std::uint64_t off = 0; off < size; ++off) {
    std::filesystem::copy_file(good, path, std::filesystem::copy_options::overwrite_existing);
    flip_byte(path, off);
    try {
      auto back = mt::load_moet(path);
      EXPECT_TRUE(mt::same_content(s, back)) << "undetected corruption at byte " << off;
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input) << e.what();
      EXPECT_EQ(e.where().file, path);
      ++detected;
    }
  }
  EXPECT_GT(detected, size / 2);
}

TEST(Store, ChecksumErrorNamesTheBlock) {
  TempDir dir;
  auto s = small_set(16, false);
  std::string path = dir.file("t.moet");
  mt::save_moet(s, path);
  // The last byte of the file is the last routing id.
  flip_byte(path, std::filesystem::file_size(path) - 1);
  try {
    mt::load_moet(path);
    FAIL() << "corruption not detected";
  } catch (const moeplan::Error& e) {
    EXPECT_NE(std::string(e.what()).find("block \"ids\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
}

TEST(Store, TruncatedFileIsBadInput) {
  TempDir dir;
  auto s = small_set(16, false);
  std::string path = dir.file("t.moet");
  mt::save_moet(s, path);
  for (std::uintmax_t keep : {0ul, 10ul, 63ul, 64ul, 100ul}) {
    std::filesystem::resize_file(path, keep);
    EXPECT_THROW(mt::load_moet(path), moeplan::Error) << keep;
  }
}

TEST(Store, FailedWriteLeavesNoFile) {
  TempDir dir;
  std::string path = dir.file("out.bin");
  EXPECT_THROW(moeplan::io::write_atomic(path,
                                         [](std::ostream& out) {
                                           out << "partial";
                                           throw std::runtime_error("boom");
                                         }),
               std::runtime_error);
  EXPECT_TRUE(dir.entries().empty());
  // Writing into a missing directory is an io error, and leaves nothing either.
  try {
    mt::save_moet(small_set(16, false), dir.file("missing/out.moet"));
    FAIL();
  } catch (const moeplan::Error& e) {
    EXPECT_EQ(e.kind(), moeplan::ErrorKind::io);
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Store, ImportTracesLoadsASingleMoetAndMergesSeveral) {
  TempDir dir;
  auto s = small_set(16, false);
  mt::save_moet(s, dir.file("one.moet"));
  auto one = mt::import_traces({dir.file("one.moet")}, {});
  EXPECT_TRUE(mt::same_content(s, one));
  // Two copies cannot merge: request ids would repeat.
  mt::save_moet(s, dir.file("two.moet"));
  EXPECT_THROW(mt::import_traces({dir.path().string()}, {}), moeplan::Error);
}
