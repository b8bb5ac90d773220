// The vLLM routed-experts importer: .npy arrays and .npz archives, with and without sidecars.
// Fixtures under tests/data/npy come from scripts/make_npy_fixtures.py; every id there is
// ref_id(t, l, s). Hand-built byte strings cover header forms numpy rarely writes.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::TempDir;

namespace {

std::uint16_t ref_id(int t, int l, int s) { return static_cast<std::uint16_t>((t * 7 + l * 3 + s * 5) % 16); }

std::vector<std::uint16_t> ref_ids(int tokens, int layers, int k) {
  std::vector<std::uint16_t> v;
  for (int t = 0; t < tokens; ++t)
    for (int l = 0; l < layers; ++l)
      for (int s = 0; s < k; ++s) v.push_back(ref_id(t, l, s));
  return v;
}

std::string fixture(const std::string& name) {
  return (moeplan::testing::source_dir() / "tests/data/npy" / name).string();
}

std::span<const char> span_of(const std::string& s) { return {s.data(), s.size()}; }

// A format-1.0 .npy file with the given header dict text and raw data bytes.
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major >= 2) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>((n >> 24) & 0xFF);
  }
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// Runs f, expecting Error{bad_input} whose message contains every one of `parts`.
void expect_bad(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing \"" << *parts.begin() << "\"";
  } catch (const moeplan::Error& e) {
    EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

mt::ParsedFile npy(const std::string& bytes, const std::string& sidecar = {}) {
  return mt::parse_npy(span_of(bytes), "dir/req7.npy", "math", sidecar);
}

}  // namespace

TEST(ImportNpy, Uint8WithSidecar) {
  const std::string path = fixture("u8.npy");
  ASSERT_EQ(mt::detect_format(path), mt::Format::npy);
  mt::ParsedFile pf = mt::parse_file(path, mt::Format::npy, "code");
  EXPECT_EQ(pf.model.name, "tiny-moe");
  EXPECT_EQ(pf.model.num_layers, 6);
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(pf.model.num_experts, 16);
  EXPECT_EQ(pf.model.top_k, 2);
  ASSERT_EQ(pf.requests.size(), 1u);
  const auto& r = pf.requests[0];
  EXPECT_EQ(r.id, "u8");
  EXPECT_EQ(r.domain, "code");
  EXPECT_EQ(r.source, path);
  EXPECT_EQ(r.prefill_tokens, 3u);
  EXPECT_EQ(r.decode_tokens, 2u);
  EXPECT_EQ(r.ids, ref_ids(5, 3, 2));
  EXPECT_TRUE(r.weights.empty());
}

TEST(ImportNpy, Int16Version2WithoutSidecarIsAllPrefill) {
  mt::ParsedFile pf = mt::parse_file(fixture("i16_v2.npy"), mt::Format::npy, "d");
  EXPECT_EQ(pf.model.name, "");
  EXPECT_EQ(pf.model.num_layers, 0);
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(pf.model.num_experts, 0);
  EXPECT_EQ(pf.model.top_k, 1);
  ASSERT_EQ(pf.requests.size(), 1u);
  EXPECT_EQ(pf.requests[0].id, "i16_v2");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 4u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 0u);
  EXPECT_EQ(pf.requests[0].ids, ref_ids(4, 2, 1));
}

TEST(ImportNpy, Int64FortranAndBigEndianFixtures) {
  EXPECT_EQ(mt::parse_file(fixture("i64.npy"), mt::Format::npy, "d").requests[0].ids, ref_ids(3, 2, 2));
  EXPECT_EQ(mt::parse_file(fixture("u16_fortran.npy"), mt::Format::npy, "d").requests[0].ids,
            ref_ids(3, 2, 2));
  EXPECT_EQ(mt::parse_file(fixture("i32_big.npy"), mt::Format::npy, "d").requests[0].ids,
            ref_ids(2, 2, 2));
}

TEST(ImportNpy, HandBuiltFortranOrderIsTransposed) {
  // Shape (2, 2, 2) in Fortran order: memory runs token fastest, then layer, then slot.
  // Memory value v at index t + 2*(l + 2*s) is 4*s + 2*l + t... so C-order id (t,l,s) = t + 2l + 4s.
  std::string data;
  for (int s = 0; s < 2; ++s)
    for (int l = 0; l < 2; ++l)
      for (int t = 0; t < 2; ++t) data += static_cast<char>(t + 2 * l + 4 * s);
  auto pf = npy(make_npy(dict("|u1", "(2, 2, 2)", true), data));
  EXPECT_EQ(pf.requests[0].ids, (std::vector<std::uint16_t>{0, 4, 2, 6, 1, 5, 3, 7}));
}

TEST(ImportNpy, HandBuiltHeaderVariants) {
  // Version 3.0, double quotes, no trailing comma, big-endian u2, extra spaces.
  std::string data = std::string("\x01\x02\x00\x05", 4);  // >u2: 258, 5
  auto pf = npy(make_npy("{\"descr\":\">u2\",\"fortran_order\":False,\"shape\":(1,2,1)}", data, 3));
  EXPECT_EQ(pf.requests[0].ids, (std::vector<std::uint16_t>{258, 5}));
  EXPECT_EQ(pf.requests[0].id, "req7");
  // Little-endian i4 with the maximum id 65535.
  std::string le("\xFF\xFF\x00\x00", 4);
  EXPECT_EQ(npy(make_npy(dict("<i4", "(1, 1, 1)"), le)).requests[0].ids, (std::vector<std::uint16_t>{65535}));
}

TEST(ImportNpy, SidecarGivesPhasesAndModel) {
  auto bytes = make_npy(dict("|u1", "(4, 1, 1)"), std::string("\x00\x01\x02\x03", 4));
  auto pf = npy(bytes, R"({"prefill_tokens": 1, "model": "m", "num_layers": 10, "moe_layer_ids": [9], "num_experts": 4})");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 1u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 3u);
  EXPECT_EQ(pf.model.name, "m");
  EXPECT_EQ(pf.model.num_layers, 10);
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{9}));
  EXPECT_EQ(pf.model.num_experts, 4);
  // prefill_tokens 0: every token is decode.
  pf = npy(bytes, R"({"prefill_tokens": 0})");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 0u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 4u);
}

TEST(ImportNpy, RejectsNonIntegerDtypes) {
  for (const char* d : {"<f4", "<f8", "|b1", "|O", "<c8", "|S4", "<U2", "|i2", "<i3", "i4"})
    expect_bad([&] { npy(make_npy(dict(d, "(1, 1, 1)"), std::string(16, '\0'))); },
               {"dir/req7.npy", "dtype", d});
  expect_bad([&] { npy(make_npy("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1, 1, 1), }", "xxxx")); },
             {"dtype", "structured"});
}

TEST(ImportNpy, RejectsBadShapes) {
  expect_bad([&] { npy(make_npy(dict("|u1", "(4,)"), "abcd")); }, {"shape", "found 1"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(2, 2)"), "abcd")); }, {"shape", "found 2"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 2, 2, 1)"), "abcd")); }, {"shape", "found 4"});
  expect_bad([&] { npy(make_npy(dict("|u1", "()"), "a")); }, {"shape", "found 0"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(0, 2, 2)"), "")); }, {"shape", "no tokens"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 2, 0)"), "")); }, {"shape", "no k"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 70000, 1)"), "")); }, {"shape", "too large"});
  // A huge claimed shape must fail on the size check, not by allocating.
  expect_bad([&] { npy(make_npy(dict("<u8", "(4294967295, 65535, 65535)"), "abcdefgh")); },
             {"data", "truncated"});
}

TEST(ImportNpy, RejectsBrokenFiles) {
  const std::string good = make_npy(dict("|u1", "(1, 2, 2)"), "\x01\x02\x03\x04");
  EXPECT_EQ(npy(good).requests[0].ids, (std::vector<std::uint16_t>{1, 2, 3, 4}));
  expect_bad([&] { npy(good.substr(0, good.size() - 1)); }, {"data", "truncated", "needs 4 bytes", "found 3"});
  expect_bad([&] { npy(good + "x"); }, {"data", "1 unexpected bytes"});
  expect_bad([&] { npy(good.substr(0, 30)); }, {"header", "truncated"});
  expect_bad([&] { npy("\x93NUMP"); }, {"magic"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 2, 2)"), "abcd", 4)); }, {"version", "4.0"});
  expect_bad([&] { npy(make_npy("{'descr': '|u1', 'shape': (1, 1, 1), }", "a")); }, {"fortran_order"});
  expect_bad([&] { npy(make_npy("{'descr': '|u1', 'fortran_order': False}", "a")); }, {"shape"});
  expect_bad([&] { npy(make_npy("{'fortran_order': False, 'shape': (1, 1, 1)}", "a")); }, {"dtype", "lacks"});
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 1, 1)") + " junk", "a")); }, {"header", "malformed"});
  expect_bad([&] { npy(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1), 'x': 1}", "a")); },
             {"header", "unexpected key 'x'"});
  expect_bad([&] { npy(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': ((((((((((1,),),),),),),),),),)}", "a")); },
             {"header", "nesting too deep"});
}

TEST(ImportNpy, RejectsOutOfRangeIdsNamingTokenLayerSlot) {
  // int8 (t=1, l=0, s=1) = -3.
  std::string data("\x00\x01\x02\x03\x04\xFD\x06\x07", 8);
  expect_bad([&] { npy(make_npy(dict("|i1", "(2, 2, 2)"), data)); },
             {"dir/req7.npy", "token 1", "layer 0, slot 1", "expert id -3 is negative"});
  // <i8 -1 at the only slot.
  expect_bad([&] { npy(make_npy(dict("<i8", "(1, 1, 1)"), std::string(8, '\xFF'))); }, {"expert id -1 is negative"});
  // <u4 65536.
  expect_bad([&] { npy(make_npy(dict("<u4", "(1, 1, 1)"), std::string("\x00\x00\x01\x00", 4))); },
             {"token 0", "layer 0, slot 0", "expert id 65536"});
  // An id at or above the sidecar's num_experts.
  expect_bad([&] { npy(make_npy(dict("|u1", "(1, 1, 2)"), "\x01\x05"), R"({"num_experts": 5})"); },
             {"token 0", "slot 1", "expert id 5"});
}

TEST(ImportNpy, RejectsBadSidecars) {
  const std::string bytes = make_npy(dict("|u1", "(2, 2, 1)"), std::string("\x00\x01\x02\x03", 4));
  const std::string side = "dir/req7.npy.phases.json";
  expect_bad([&] { npy(bytes, "{"); }, {side, "invalid JSON"});
  expect_bad([&] { npy(bytes, "[1]"); }, {side, "object"});
  expect_bad([&] { npy(bytes, R"({"prefill_tokens": 3})"); }, {side, "prefill_tokens", "exceeds the 2 tokens"});
  expect_bad([&] { npy(bytes, R"({"prefill_tokens": -1})"); }, {side, "prefill_tokens"});
  expect_bad([&] { npy(bytes, R"({"prefill_tokens": 1.5})"); }, {side, "prefill_tokens"});
  expect_bad([&] { npy(bytes, R"({"moe_layer_ids": [1, 2, 3]})"); }, {side, "moe_layer_ids", "lists 3 layers"});
  expect_bad([&] { npy(bytes, R"({"moe_layer_ids": [2, 1]})"); }, {side, "ascending"});
  expect_bad([&] { npy(bytes, R"({"moe_layer_ids": [1, 2], "num_layers": 2})"); }, {side, "num_layers"});
  expect_bad([&] { npy(bytes, R"({"num_experts": 0})"); }, {side, "num_experts"});
  expect_bad([&] { npy(bytes, R"({"model": 3})"); }, {side, "model"});
  expect_bad([&] { npy(bytes, R"({"requests": {}})"); }, {side, "requests", "unknown key"});
}

TEST(ImportNpz, StoredWithSidecar) {
  const std::string path = fixture("stored.npz");
  ASSERT_EQ(mt::detect_format(path), mt::Format::npz);
  mt::ParsedFile pf = mt::parse_file(path, mt::Format::npz, "bio");
  EXPECT_EQ(pf.model.name, "tiny-moe");
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{0, 1}));
  EXPECT_EQ(pf.model.top_k, 2);
  ASSERT_EQ(pf.requests.size(), 2u);
  EXPECT_EQ(pf.requests[0].id, "r0");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 3u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 0u);
  EXPECT_EQ(pf.requests[0].ids, ref_ids(3, 2, 2));
  EXPECT_EQ(pf.requests[1].id, "r1");
  EXPECT_EQ(pf.requests[1].prefill_tokens, 1u);
  EXPECT_EQ(pf.requests[1].decode_tokens, 3u);
  EXPECT_EQ(pf.requests[1].ids, ref_ids(4, 2, 2));
  EXPECT_EQ(pf.requests[1].domain, "bio");
  EXPECT_EQ(pf.requests[1].source, path);
}

TEST(ImportNpz, CompressedWithAndWithoutSidecar) {
  const std::string path = fixture("compressed.npz");
  mt::ParsedFile pf = mt::parse_file(path, mt::Format::npz, "d");  // no sidecar file
  ASSERT_EQ(pf.requests.size(), 2u);
  EXPECT_EQ(pf.requests[0].ids, ref_ids(3, 2, 2));
  EXPECT_EQ(pf.requests[1].ids, ref_ids(4, 2, 2));
  EXPECT_EQ(pf.requests[1].prefill_tokens, 4u);
  EXPECT_EQ(pf.requests[1].decode_tokens, 0u);

  auto bytes = moeplan::io::read_file(path);
  // Sidecar keys may be member names or request ids.
  pf = mt::parse_npz({bytes.data(), bytes.size()}, path, "d",
                     R"({"requests": {"r0.npy": {"prefill_tokens": 2}, "r1": {"prefill_tokens": 0}}, "num_experts": 16})");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 2u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 1u);
  EXPECT_EQ(pf.requests[1].prefill_tokens, 0u);
  EXPECT_EQ(pf.requests[1].decode_tokens, 4u);
  EXPECT_EQ(pf.model.num_experts, 16);

  expect_bad([&] { mt::parse_npz({bytes.data(), bytes.size()}, path, "d", R"({"requests": {"r9": {"prefill_tokens": 1}}})"); },
             {"phases.json", "no member r9.npy"});
  expect_bad([&] { mt::parse_npz({bytes.data(), bytes.size()}, path, "d", R"({"requests": {"r0": {"prefill_tokens": 9}}})"); },
             {"phases.json", "requests \"r0\"", "prefill_tokens", "exceeds the 3 tokens"});
  expect_bad([&] { mt::parse_npz({bytes.data(), bytes.size()}, path, "d", R"({"requests": {"r0": {"prefill": 1}}})"); },
             {"requests \"r0\"", "prefill", "unknown key"});
  expect_bad([&] { mt::parse_npz({bytes.data(), bytes.size()}, path, "d", R"({"prefill_tokens": 1})"); },
             {"prefill_tokens", "unknown key"});
}

TEST(ImportNpz, StoredAndCompressedAssembleToTheSameRouting) {
  std::vector<mt::ParsedFile> a, b;
  a.push_back(mt::parse_file(fixture("compressed.npz"), mt::Format::npz, "d"));
  auto bytes = moeplan::io::read_file(fixture("stored.npz"));
  b.push_back(mt::parse_npz({bytes.data(), bytes.size()}, fixture("compressed.npz"), "d", ""));
  EXPECT_TRUE(mt::same_content(mt::assemble(std::move(a), {}), mt::assemble(std::move(b), {})));
}

TEST(ImportNpz, RejectsBrokenArchives) {
  auto bytes = moeplan::io::read_file(fixture("stored.npz"));
  const std::string good(bytes.begin(), bytes.end());
  auto npz = [](const std::string& s) { return mt::parse_npz(span_of(s), "x.npz", "d", ""); };
  EXPECT_EQ(npz(good).requests.size(), 2u);
  // Every truncation fails cleanly (the end record moves or vanishes).
  for (std::size_t n = 0; n < good.size(); n += 7) expect_bad([&] { npz(good.substr(0, n)); }, {"x.npz"});
  // A comment after the end record is allowed; stray bytes that are not a comment are not.
  std::string with_comment = good;
  with_comment[with_comment.size() - 2] = 3;  // comment length (little-endian, low byte)
  EXPECT_EQ(npz(with_comment + "abc").requests.size(), 2u);
  expect_bad([&] { npz(good + "zz"); }, {"end of central directory"});
  // Central directory offset pointing past the end record.
  std::string off = good;
  off[off.size() - 6] = '\x7F';
  expect_bad([&] { npz(off); }, {"central directory"});
  // Encrypted member flag in the central directory.
  std::string enc = good;
  const std::size_t cd = enc.find("PK\x01\x02");
  ASSERT_NE(cd, std::string::npos);
  enc[cd + 8] |= 1;
  expect_bad([&] { npz(enc); }, {"member \"r0.npy\"", "encrypted"});
  // Duplicate member names.
  std::string dup = good;
  const std::size_t cd2 = dup.find("PK\x01\x02", cd + 4);
  dup.replace(cd2 + 46, 6, "r0.npy");
  expect_bad([&] { npz(dup); }, {"member \"r0.npy\"", "duplicate"});
}

TEST(ImportNpy, CliConvertsWithSidecarPhases) {
  TempDir tmp;
  auto res = moeplan::testing::run_cli({"trace", "convert", fixture("u8.npy"), fixture("i64.npy"), "-o", tmp.file("out.moet")});
  // u8 has 3 MoE layers, i64 has 2: the driver refuses to mix them.
  EXPECT_EQ(res.exit_code, 3) << res.err;
  EXPECT_NE(res.err.find("MoE layers"), std::string::npos) << res.err;

  res = moeplan::testing::run_cli({"trace", "convert", fixture("stored.npz"), "-o", tmp.file("out.moet"), "--domain", "x"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  mt::TraceSet set = mt::load_moet(tmp.file("out.moet"));
  ASSERT_EQ(set.requests.size(), 2u);
  EXPECT_EQ(set.model.num_experts, 16);  // inferred: max id 15 + 1
  EXPECT_EQ(set.prefill_tokens(), 4u);
  EXPECT_EQ(set.decode_tokens(), 3u);
  EXPECT_EQ(set.domains, (std::vector<std::string>{"x"}));
}

TEST(ImportNpy, DirectoryOfNpyFilesIsOneRequestEach) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path() / "chat");
  for (int i : {10, 2}) {
    std::string data;
    for (int j = 0; j < 4; ++j) data += static_cast<char>(i + j);
    moeplan::testing::write_text(tmp.file("chat/" + std::to_string(i) + ".npy"), make_npy(dict("|u1", "(2, 1, 2)"), data));
  }
  moeplan::testing::write_text(tmp.file("chat/10.npy.phases.json"), R"({"prefill_tokens": 1})");
  mt::TraceSet set = mt::import_traces({tmp.file("chat")}, {});
  ASSERT_EQ(set.requests.size(), 2u);
  EXPECT_EQ(set.requests[0].id, "2");
  EXPECT_EQ(set.requests[1].id, "10");
  EXPECT_EQ(set.requests[0].prefill_tokens, 2u);
  EXPECT_EQ(set.requests[1].prefill_tokens, 1u);
  EXPECT_EQ(set.requests[1].decode_tokens, 1u);
  EXPECT_EQ(set.domains, (std::vector<std::string>{"chat"}));
  EXPECT_EQ(set.ids[4], 10u);
  EXPECT_EQ(set.model.num_experts, 14);
}
