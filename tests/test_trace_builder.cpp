// TraceBuilder (chunked assembly in bounded memory), io::read_pieces, and the streamed JSONL
// import: each must give exactly what the whole-file path gives, values checked one by one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <sstream>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/builder.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/jsonl.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::TempDir;
using moeplan::testing::write_text;

namespace {

mt::ModelInfo model(int experts, int layers, int k) {
  mt::ModelInfo m;
  m.name = "m";
  m.num_layers = layers;
  for (int l = 0; l < layers; ++l) m.moe_layer_ids.push_back(l);
  m.num_experts = experts;
  m.top_k = k;
  return m;
}

mt::RequestRouting request(const std::string& id, std::uint32_t prefill, std::uint32_t decode,
                           std::vector<std::uint16_t> ids) {
  mt::RequestRouting r;
  r.id = id;
  r.domain = "d";
  r.source = "src/" + id;
  r.prefill_tokens = prefill;
  r.decode_tokens = decode;
  r.ids = std::move(ids);
  return r;
}

std::vector<std::uint32_t> all_ids(const mt::TraceSet& set) {
  std::vector<std::uint32_t> out(set.ids.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = set.ids[i];
  return out;
}

}  // namespace

TEST(TraceBuilder, WidensWhenAnIdNeedsTwoBytes) {
  mt::TraceBuilder b({});
  b.begin_file(model(0, 1, 2), "f");  // E unknown: max id + 1
  b.add(request("a", 1, 1, {1, 2, 3, 4}));
  b.add(request("b", 0, 1, {300, 5}));
  mt::TraceSet set = b.finish();
  EXPECT_EQ(set.model.num_experts, 301);
  EXPECT_EQ(set.ids.width(), 2);
  EXPECT_EQ(all_ids(set), (std::vector<std::uint32_t>{1, 2, 3, 4, 300, 5}));
  ASSERT_EQ(set.requests.size(), 2u);
  EXPECT_EQ(set.requests[1].token_offset, 2u);
  EXPECT_EQ(set.requests[1].source, "src/b");
}

TEST(TraceBuilder, ExpertsOptionAbove256GivesTwoByteIdsFromOneByteChunks) {
  mt::ImportOptions opt;
  opt.num_experts = 300;
  mt::TraceBuilder b(opt);
  b.begin_file(model(0, 2, 1), "f");
  b.add(request("a", 2, 0, {7, 0, 255, 9}));
  mt::TraceSet set = b.finish();
  EXPECT_EQ(set.model.num_experts, 300);
  EXPECT_EQ(set.ids.width(), 2);
  EXPECT_EQ(all_ids(set), (std::vector<std::uint32_t>{7, 0, 255, 9}));
}

TEST(TraceBuilder, CrossesChunkBoundariesAndWidensAfterThem) {
  // 18 Mi ids in one-byte chunks of 16 Mi, then an id that needs two bytes: every value must
  // survive the chunk boundary, the widening of both chunks and the final drain.
  mt::TraceBuilder b({});
  b.begin_file(model(0, 1, 1), "f");
  const std::uint32_t per_request = 4'500'000;
  auto value = [](std::uint64_t i) { return static_cast<std::uint16_t>((i * 7 + i / 251) % 251); };
  std::uint64_t next = 0;
  for (int r = 0; r < 4; ++r) {
    std::vector<std::uint16_t> ids(per_request);
    for (auto& id : ids) id = value(next++);
    b.add(request("r" + std::to_string(r), per_request / 2, per_request / 2, std::move(ids)));
  }
  b.add(request("wide", 1, 2, {1000, 4, 250}));
  mt::TraceSet set = b.finish();
  ASSERT_EQ(set.ids.size(), 4ull * per_request + 3);
  ASSERT_EQ(set.ids.width(), 2);
  EXPECT_EQ(set.model.num_experts, 1001);
  std::uint64_t mismatches = 0;
  set.ids.visit([&](auto span) {
    for (std::uint64_t i = 0; i < 4ull * per_request; ++i) mismatches += span[i] != value(i);
  });
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(set.ids[4ull * per_request], 1000u);
  EXPECT_EQ(set.ids[4ull * per_request + 2], 250u);
  EXPECT_EQ(set.requests[4].token_offset, 4ull * per_request);
}

TEST(TraceBuilder, IdAtLeastExpertsNamesRequestAndToken) {
  mt::ImportOptions opt;
  opt.num_experts = 8;
  mt::TraceBuilder b(opt);
  b.begin_file(model(0, 2, 2), "f");
  b.add(request("ok", 1, 0, {0, 1, 2, 3}));
  // token 1 of request "bad" (ids 4..7) holds 9.
  b.add(request("bad", 1, 1, {4, 5, 6, 7, 1, 2, 9, 3}));
  const moeplan::Error e = moeplan::testing::error_from([&] { b.finish(); }, "id >= E");
  EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
  const std::string what = e.what();
  for (const char* part : {"src/bad", "request bad", "token 1", "expert id 9 >= experts (8)"})
    EXPECT_NE(what.find(part), std::string::npos) << what << " lacks " << part;
}

TEST(TraceBuilder, RejectsMixedWeightsAndWrongSizes) {
  mt::TraceBuilder b({});
  b.begin_file(model(4, 1, 1), "first.jsonl");
  b.add(request("a", 1, 0, {1}));
  auto w = request("b", 1, 0, {2});
  w.weights = {0.5f};
  EXPECT_NE(std::string(moeplan::testing::error_from([&] { b.add(w); }, "weights").what())
                .find("some requests have router weights and others not"),
            std::string::npos);
  EXPECT_NE(std::string(moeplan::testing::error_from([&] { b.add(request("c", 2, 0, {1})); }, "size").what())
                .find("routing size does not match its token counts"),
            std::string::npos);
  EXPECT_NE(std::string(moeplan::testing::error_from([&] { b.begin_file(model(4, 1, 2), "second.jsonl"); },
                                                     "top-k").what())
                .find("second.jsonl: top_k: top-k 2 differs from 1 in first.jsonl"),
            std::string::npos);
}

TEST(IoReadPieces, PlainAndZstdPiecesConcatenateToTheFile) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i * 7919 % 10007) + "\n";
  const std::string plain = dir.file("a.txt"), packed = dir.file("a.txt.zst");
  write_text(plain, text);
  const auto z = moeplan::io::zstd_compress({text.data(), text.size()}, 3);
  write_text(packed, std::string(z.begin(), z.end()));
  for (const auto& path : {plain, packed}) {
    std::string joined;
    std::uint64_t last = 0, pieces = 0;
    moeplan::io::read_pieces(path, 1000, [&](std::span<const char> p, std::uint64_t consumed) {
      EXPECT_LE(p.size(), 1000u);
      EXPECT_GE(consumed, last);
      last = consumed;
      joined.append(p.data(), p.size());
      ++pieces;
    });
    EXPECT_EQ(joined, text) << path;
    EXPECT_EQ(last, std::filesystem::file_size(path)) << path;
    EXPECT_GT(pieces, 10u) << path;
  }
  // A frame cut short is bad input, as in read_file.
  const std::string cut = dir.file("cut.zst");
  write_text(cut, std::string(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2)));
  const auto e = moeplan::testing::error_from(
      [&] { moeplan::io::read_pieces(cut, 1000, [](std::span<const char>, std::uint64_t) {}); }, "cut");
  EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
  EXPECT_NE(std::string(e.what()).find("zstd"), std::string::npos) << e.what();
}

namespace {

// A JSONL text of `requests` requests over 3 MoE layers, top-2 of 16, with router weights.
std::string jsonl_text(int requests) {
  std::ostringstream os;
  os << R"({"moeplan_jsonl": 1, "model": "s", "num_layers": 3, "moe_layer_ids": [0, 1, 2], "num_experts": 16, "top_k": 2})"
     << "\n";
  for (int r = 0; r < requests; ++r) {
    auto nest = [&](int tokens, int salt, bool weights) {
      std::string s = "[";
      for (int t = 0; t < tokens; ++t) {
        s += t ? ",[" : "[";
        for (int l = 0; l < 3; ++l) {
          const int a = (r * 5 + t * 3 + l + salt) % 16, b2 = (a + 1 + (t + l) % 15) % 16;
          s += (l ? ",[" : "[") + (weights ? std::to_string(0.25 * (a % 4)) + "," + std::to_string(0.5)
                                           : std::to_string(a) + "," + std::to_string(b2)) + "]";
        }
        s += "]";
      }
      return s + "]";
    };
    const int pre = 1 + r % 4, dec = r % 3;
    os << R"({"id": "q)" << r << R"(", "domain": ")" << (r % 2 ? "math" : "code") << R"(", "prefill": )"
       << nest(pre, 0, false) << R"(, "decode": )" << (dec ? nest(dec, 100, false) : std::string("[]"))
       << R"(, "weights": )" << nest(pre + dec, 0, true) << "}\n";
  }
  return os.str();
}

}  // namespace

TEST(ImportTraces, StreamedJsonlEqualsWholeFileParse) {
  TempDir dir;
  const std::string text = jsonl_text(300);
  write_text(dir.file("a.jsonl"), text);
  const auto z = moeplan::io::zstd_compress({text.data(), text.size()}, 3);
  write_text(dir.file("b.jsonl.zst"), std::string(z.begin(), z.end()));
  // The same requests, plain and zstd; each file is imported alone (ids must be unique).
  for (const char* name : {"a.jsonl", "b.jsonl.zst"}) {
    const std::string path = dir.file(name);
    mt::ImportOptions whole, streamed;
    whole.stream_jsonl_from_bytes = std::numeric_limits<std::uint64_t>::max();
    streamed.stream_jsonl_from_bytes = 0;
    std::vector<std::size_t> seen;
    std::size_t total_seen = 0;
    streamed.progress = [&](std::size_t done, std::size_t total) {
      seen.push_back(done);
      total_seen = total;
    };
    const mt::TraceSet a = mt::import_traces({path}, whole), b = mt::import_traces({path}, streamed);
    EXPECT_TRUE(mt::same_content(a, b)) << name;
    EXPECT_EQ(b.requests.size(), 300u);
    EXPECT_TRUE(b.has_weights());
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), std::filesystem::file_size(path));
    EXPECT_EQ(total_seen, std::filesystem::file_size(path));
  }
}

TEST(ImportTraces, StreamedJsonlReportsTheSameErrors) {
  TempDir dir;
  std::string text = jsonl_text(40);
  // Line 31 (request q29): its first expert id becomes 16 = num_experts.
  std::size_t at = 0;
  for (int line = 1; line < 31; ++line) at = text.find('\n', at) + 1;
  const std::size_t id_at = text.find("[[[", at) + 3;
  text.replace(id_at, text.find(',', id_at) - id_at, "16");
  const std::string path = dir.file("bad.jsonl");
  write_text(path, text);
  auto error_with = [&](std::uint64_t threshold) {
    mt::ImportOptions opt;
    opt.stream_jsonl_from_bytes = threshold;
    return std::string(moeplan::testing::error_from([&] { mt::import_traces({path}, opt); }, "bad").what());
  };
  const std::string whole = error_with(std::numeric_limits<std::uint64_t>::max()), streamed = error_with(0);
  EXPECT_EQ(whole, streamed);
  EXPECT_NE(whole.find("line 31"), std::string::npos) << whole;
  EXPECT_NE(whole.find("prefill[0][0][0]"), std::string::npos) << whole;
  EXPECT_NE(whole.find("expert id 16 >= num_experts (16)"), std::string::npos) << whole;
}
