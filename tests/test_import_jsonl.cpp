// moeplan JSONL: reading hand-written files, rejecting bad ones (by line and field), and the
// lossless write_jsonl -> parse_jsonl round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/jsonl.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::TempDir;

namespace {

const std::string kHeader =
    R"({"moeplan_jsonl": 1, "model": "tiny", "num_layers": 4, "moe_layer_ids": [1, 3], "num_experts": 8, "top_k": 2})";

mt::ParsedFile jsonl(const std::string& text, const std::string& domain = "dflt") {
  return mt::parse_jsonl({text.data(), text.size()}, "t.jsonl", domain);
}

void expect_bad(const std::string& text, std::initializer_list<std::string> parts) {
  try {
    jsonl(text);
    ADD_FAILURE() << "no error for:\n" << text;
  } catch (const moeplan::Error& e) {
    EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.jsonl"), std::string::npos) << e.what();
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\n  lacks: " << p;
  }
}

// Round trip through text: write, parse, assemble.
mt::TraceSet round_trip(const mt::TraceSet& set, std::string* text_out = nullptr) {
  std::ostringstream os;
  mt::write_jsonl(set, os);
  const std::string text = os.str();
  if (text_out) *text_out = text;
  std::vector<mt::ParsedFile> files;
  files.push_back(mt::parse_jsonl({text.data(), text.size()}, "rt.jsonl", "unused"));
  return mt::assemble(std::move(files), {});
}

mt::TraceSet hand_built(int experts, bool weights) {
  std::vector<mt::ParsedFile> files(1);
  auto& f = files[0];
  f.model = {"Model \"x\"", 6, {0, 2, 5}, experts, 2};
  mt::RequestRouting a{"a\\1", "math", "a.npy", 2, 1, {}, {}};
  for (int t = 0; t < 3; ++t)
    for (int l = 0; l < 3; ++l)
      for (int s = 0; s < 2; ++s) a.ids.push_back(static_cast<std::uint16_t>((t * 5 + l * 3 + s * (experts / 2)) % experts));
  mt::RequestRouting b{"b\n\"q\"", "code\t\x01", "", 0, 2, {}, {}};
  b.ids = {static_cast<std::uint16_t>(experts - 1), 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5};
  if (weights) {
    // Values whose decimal forms are awkward: must come back bit for bit.
    const float tricky[] = {0.1f, 1.0f / 3.0f, std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(), std::numeric_limits<float>::max(),
                            -0.0f, 16777217.0f, 7e-39f, 3.4028233e38f, 1e-10f, -2.5f, 0.7f};
    for (std::size_t i = 0; i < a.ids.size(); ++i) a.weights.push_back(tricky[i % 12] * (i < 12 ? 1.0f : -1.0f));
    for (std::size_t i = 0; i < b.ids.size(); ++i) b.weights.push_back(std::nextafter(tricky[i], 1.0f));
  }
  f.requests = {a, b};
  return mt::assemble(std::move(files), {});
}

}  // namespace

TEST(ImportJsonl, ReadsHeaderAndRequests) {
  const std::string text = "\xEF\xBB\xBF" + kHeader + "\r\n" +
                           "\n   \n" +
                           R"({"id": "r0", "prefill": [[[0, 1], [2, 3]], [[4, 5], [6, 7]]], "decode": [[[7, 6], [5, 4]]]})" + "\r\n" +
                           R"({"decode": [[[1, 0], [3, 2]]], "domain": "math", "id": "r1", "source": "orig.json"})";
  mt::ParsedFile pf = jsonl(text);
  EXPECT_EQ(pf.model, (mt::ModelInfo{"tiny", 4, {1, 3}, 8, 2}));
  ASSERT_EQ(pf.requests.size(), 2u);
  const auto& r0 = pf.requests[0];
  EXPECT_EQ(r0.id, "r0");
  EXPECT_EQ(r0.domain, "dflt");
  EXPECT_EQ(r0.source, "t.jsonl");
  EXPECT_EQ(r0.prefill_tokens, 2u);
  EXPECT_EQ(r0.decode_tokens, 1u);
  EXPECT_EQ(r0.ids, (std::vector<std::uint16_t>{0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4}));
  EXPECT_TRUE(r0.weights.empty());
  const auto& r1 = pf.requests[1];
  EXPECT_EQ(r1.id, "r1");
  EXPECT_EQ(r1.domain, "math");
  EXPECT_EQ(r1.source, "orig.json");
  EXPECT_EQ(r1.prefill_tokens, 0u);
  EXPECT_EQ(r1.decode_tokens, 1u);
  EXPECT_EQ(r1.ids, (std::vector<std::uint16_t>{1, 0, 3, 2}));
}

TEST(ImportJsonl, ReadsWeightsExactly) {
  const std::string text = R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "num_experts": 4, "top_k": 2})" "\n"
                           R"({"id": "w", "prefill": [[[0, 3]]], "decode": [[[2, 1]]], "weights": [[[0.1, 0.9]], [[1e-45, -3]]]})" "\n"
                           R"({"id": "u", "prefill": [[[1, 2]]], "weights": [[[1e-50, -5e-46]]]})";
  mt::ParsedFile pf = jsonl(text);
  EXPECT_EQ(pf.model.num_layers, 0);
  EXPECT_EQ(pf.model.name, "");
  ASSERT_EQ(pf.requests[0].weights.size(), 4u);
  EXPECT_EQ(pf.requests[0].weights[0], 0.1f);
  EXPECT_EQ(pf.requests[0].weights[1], 0.9f);
  EXPECT_EQ(pf.requests[0].weights[2], std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(pf.requests[0].weights[3], -3.0f);
  // Below half the smallest subnormal: rounds to (signed) zero rather than failing.
  EXPECT_EQ(pf.requests[1].weights, (std::vector<float>{0.0f, 0.0f}));
  EXPECT_TRUE(std::signbit(pf.requests[1].weights[1]));
}

TEST(ImportJsonl, RejectsBadHeaders) {
  expect_bad(R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]]})", {"line 1", "missing header"});
  expect_bad(R"({"moeplan_jsonl": 2, "moe_layer_ids": [0], "num_experts": 8, "top_k": 1})", {"line 1", "moeplan_jsonl", "unsupported version"});
  expect_bad(R"({"moeplan_jsonl": "1", "moe_layer_ids": [0], "num_experts": 8, "top_k": 1})", {"moeplan_jsonl", "non-negative integer"});
  expect_bad(R"({"moeplan_jsonl": 1, "num_experts": 8, "top_k": 1})", {"moe_layer_ids", "missing"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [], "num_experts": 8, "top_k": 1})", {"moe_layer_ids", "empty"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [3, 3], "num_experts": 8, "top_k": 1})", {"moe_layer_ids", "ascending"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "top_k": 1})", {"num_experts", "missing"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "num_experts": 70000, "top_k": 1})", {"num_experts", "at most 65535"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "num_experts": 8, "top_k": 9})", {"top_k", "exceeds num_experts"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0, 4], "num_layers": 4, "num_experts": 8, "top_k": 1})", {"num_layers"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "num_experts": 8, "top_k": 1, "experts": 8})", {"experts", "unknown header key"});
  expect_bad(R"({"moeplan_jsonl": 1, "moe_layer_ids": [0], "num_experts": 8, "top_k": 1, "top_k": 1})", {"top_k", "duplicate key"});
  expect_bad("[1, 2]", {"line 1"});
  expect_bad("\n\n" + kHeader + "\n", {"no requests"});
}

TEST(ImportJsonl, RejectsBadRequestsByLineAndField) {
  const std::string h = kHeader + "\n";
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3)", {"line 2", "invalid JSON"});
  expect_bad(h + "\n" + R"({"id": "r0", "prefill": [[[0, 1], [2]]]})", {"line 3", "prefill[0][1]", "expected top_k = 2 entries, found 1"});
  expect_bad(h + R"({"id": "r0", "decode": [[[0, 1], [2, 3]], [[0, 1], [2, 3], [4, 5]]]})", {"decode[1]", "more than the header's 2 MoE layers"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1]]]})", {"prefill[0]", "expected 2 MoE layers (header), found 1"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 8]]]})", {"prefill[0][1][1]", "expert id 8 >= num_experts (8)"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 1.5]]]})", {"prefill[0][1][1]", "non-negative integers"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, "3"]]]})", {"prefill[0][1][1]", "non-negative integers"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[5, 5], [2, 3]]]})", {"prefill[0][0][1]", "expert id 5 repeated"});
  expect_bad(h + R"({"id": "r0", "prefill": [[0, 1]]})", {"prefill[0][0]", "must be an array"});
  expect_bad(h + R"({"id": "r0", "prefill": {}})", {"prefill", "must be an array"});
  expect_bad(h + R"({"prefill": [[[0, 1], [2, 3]]]})", {"line 2", "id", "missing"});
  expect_bad(h + R"({"id": "", "prefill": [[[0, 1], [2, 3]]]})", {"id", "must not be empty"});
  expect_bad(h + R"({"id": 7, "prefill": [[[0, 1], [2, 3]]]})", {"id", "must be a string"});
  expect_bad(h + R"({"id": "r0", "domain": "", "prefill": [[[0, 1], [2, 3]]]})", {"domain", "must not be empty"});
  expect_bad(h + R"({"id": "r0"})", {"has no tokens"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]], "extra": 1})", {"extra", "unknown request key"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]], "weights": [[[0.5, 0.5], [0.5, "x"]]]})", {"weights[0][1][1]", "must be numbers"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]], "weights": [[[0.5, 0.5], [0.5, 1e39]]]})", {"weights[0][1][1]", "float"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]], "weights": []})", {"weights", "has 0 tokens"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]]} {})", {"line 2"});
  expect_bad(h + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]]})" "\n" R"({"id": "r0", "decode": [[[0, 1], [2, 3]]]})",
             {"line 3", "duplicate request id \"r0\" (first on line 2)"});
}

TEST(ImportJsonl, WriterRoundTripsLosslessly) {
  for (int experts : {8, 300}) {
    for (bool weights : {false, true}) {
      SCOPED_TRACE(std::to_string(experts) + (weights ? " with weights" : " without weights"));
      mt::TraceSet set = hand_built(experts, weights);
      ASSERT_EQ(set.has_weights(), weights);
      std::string text;
      mt::TraceSet back = round_trip(set, &text);
      EXPECT_TRUE(mt::same_content(set, back)) << text;
      if (weights)  // -0.0 and denormals compare equal loosely; insist on the exact bits
        for (std::size_t i = 0; i < set.weights.size(); ++i)
          ASSERT_EQ(std::signbit(set.weights[i]), std::signbit(back.weights[i])) << i;
    }
  }
}

TEST(ImportJsonl, WriterOutputIsDocumentedShape) {
  std::string text;
  round_trip(hand_built(8, false), &text);
  const std::string first_line = text.substr(0, text.find('\n'));
  EXPECT_EQ(first_line,
            R"({"moeplan_jsonl":1,"model":"Model \"x\"","num_layers":6,"moe_layer_ids":[0,2,5],"num_experts":8,"top_k":2})");
  EXPECT_NE(text.find(R"({"id":"a\\1","domain":"math","source":"a.npy","prefill":[[[0,4],[3,7],[6,2]],[[5,1])"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("domain":"code\t\u0001")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("prefill":[],"decode":[[[7,0])"), std::string::npos) << text;
}

TEST(ImportJsonl, NpzImportRoundTripsThroughJsonl) {
  auto path = (moeplan::testing::source_dir() / "tests/data/npy/stored.npz").string();
  mt::TraceSet set = mt::import_traces({path}, {});
  EXPECT_TRUE(mt::same_content(set, round_trip(set)));
}

TEST(ImportJsonl, CliConvertsJsonlFile) {
  TempDir tmp;
  moeplan::testing::write_text(tmp.file("t.jsonl"), kHeader + "\n" + R"({"id": "r0", "prefill": [[[0, 1], [2, 3]]], "decode": [[[4, 5], [6, 7]]]})" + "\n");
  auto res = moeplan::testing::run_cli({"trace", "convert", tmp.file("t.jsonl"), "-o", tmp.file("out.moet")});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  mt::TraceSet set = mt::load_moet(tmp.file("out.moet"));
  EXPECT_EQ(set.model.num_experts, 8);
  EXPECT_EQ(set.model.moe_layer_ids, (std::vector<int>{1, 3}));
  EXPECT_EQ(set.prefill_tokens(), 1u);
  EXPECT_EQ(set.decode_tokens(), 1u);
  ASSERT_EQ(set.domains.size(), 1u);  // folder name of the temp dir
  EXPECT_EQ(set.ids[7], 7u);
}
