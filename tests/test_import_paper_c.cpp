// Paper C ("Orders in Chaos") JSON importer: hand-checked small inputs, every rejection
// path, and the real Llama-4-Maverick MMLU set under ../shared.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/import.hpp"
#include "support/support.hpp"
#include "trace/import_paper_c_fast.hpp"

namespace mt = moeplan::trace;
namespace fs = std::filesystem;

namespace {

mt::ParsedFile parse(const std::string& text, const std::string& path = "dir/7.json") {
  return mt::parse_paper_c_json({text.data(), text.size()}, path, "algebra");
}

// The error a bad input raises (fails the test when none is raised).
moeplan::Error parse_error(const std::string& text) {
  return moeplan::testing::error_from([&] { parse(text); }, text);
}

}  // namespace

// 2 prefill tokens + 2 decode steps, 4 layer keys of which "1" and "3" are MoE, top-2.
TEST(ImportPaperC, SmallRequestIsTokenMajor) {
  const std::string text =
      R"([{"0":null,"1":[[3,1],[0,2]],"2":null,"3":[[5,4],[6,7]]},)"
      R"( {"0":null,"1":[[9,8]],"2":null,"3":[[1,0]]},)"
      R"( {"0":null,"1":[[2,3]],"2":null,"3":[[4,5]]}])";
  mt::ParsedFile pf = parse(text);
  EXPECT_EQ(pf.model.num_layers, 4);
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{1, 3}));
  EXPECT_EQ(pf.model.top_k, 2);
  EXPECT_EQ(pf.model.num_experts, 0);
  ASSERT_EQ(pf.requests.size(), 1u);
  const auto& r = pf.requests[0];
  EXPECT_EQ(r.id, "7");
  EXPECT_EQ(r.domain, "algebra");
  EXPECT_EQ(r.source, "dir/7.json");
  EXPECT_EQ(r.prefill_tokens, 2u);
  EXPECT_EQ(r.decode_tokens, 2u);
  // [token][moe layer][k], ids kept in file order within a token.
  EXPECT_EQ(r.ids, (std::vector<std::uint16_t>{3, 1, 5, 4,    // prefill token 0
                                               0, 2, 6, 7,    // prefill token 1
                                               9, 8, 1, 0,    // decode step 1
                                               2, 3, 4, 5})); // decode step 2
  EXPECT_TRUE(r.weights.empty());
}

TEST(ImportPaperC, KeysInAnyOrderAndWhitespace) {
  const std::string text = " [ { \"3\" : [ [ 2 ] ] , \"1\" : [ [ 7 ] ] , \"0\" : null } ] \n";
  mt::ParsedFile pf = parse(text, "x/req.json.zst");
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{1, 3}));
  EXPECT_EQ(pf.model.num_layers, 4);  // largest key + 1: key "2" is absent, so dense
  EXPECT_EQ(pf.requests[0].id, "req");
  EXPECT_EQ(pf.requests[0].ids, (std::vector<std::uint16_t>{7, 2}));
}

TEST(ImportPaperC, ZeroPrefillIsLegalWithDecodeTokens) {
  mt::ParsedFile pf = parse(R"([{"0":[]},{"0":[[4]]},{"0":[[2]]}])");
  EXPECT_EQ(pf.requests[0].prefill_tokens, 0u);
  EXPECT_EQ(pf.requests[0].decode_tokens, 2u);
  EXPECT_EQ(pf.requests[0].ids, (std::vector<std::uint16_t>{4, 2}));
}

TEST(ImportPaperC, RejectsWithLocation) {
  struct Case {
    std::string text, record, field, message;
  };
  const std::vector<Case> cases = {
      {R"([{"0":null,"1":[[3],[1]])", "step 0", "", "invalid JSON"},
      {R"([{"0":null,"1":[[3]]}] [])", "", "", "unexpected content after the array"},
      {R"([])", "", "", "empty array: no steps"},
      {R"({"0":null})", "", "", "expected a JSON array of steps"},
      {R"([{"0":null,"x":[[3]]}])", "step 0", "layer \"x\"", "not an integer"},
      {R"([{"0":null,"-1":[[3]]}])", "step 0", "layer \"-1\"", "not an integer"},
      {R"([{"0":null,"01":[[3]]}])", "step 0", "layer \"01\"", "not an integer"},
      {R"([{"1":[[3]],"1":[[2]]}])", "step 0", "layer \"1\"", "duplicate layer key"},
      {R"([{"1":[[3]]},{"1":[[2]],"1":[[2]]}])", "step 1", "layer \"1\"", "duplicate layer key"},
      {R"([{"0":null,"1":[[3]]},{"0":[[1]],"1":[[3]]}])", "step 1", "layer \"0\"", "null in step 0 but not here"},
      {R"([{"0":null,"1":[[3]]},{"0":null,"1":null}])", "step 1", "layer \"1\"", "null here but a MoE layer"},
      {R"([{"0":null,"1":[[3]]},{"1":[[3]]}])", "step 1", "layer \"0\"", "layer key missing"},
      {R"([{"0":null,"1":[[3]]},{"0":null,"1":[[3]],"2":null}])", "step 1", "layer \"2\"", "not in step 0"},
      {R"([{"0":null,"1":[[3]]},{"0":null,"1":[[3],[4]]}])", "step 1", "layer \"1\"", "expected exactly 1"},
      {R"([{"0":null,"1":[[3]]},{"0":null,"1":[]}])", "step 1", "layer \"1\"", "expected exactly 1"},
      {R"([{"1":[[3],[4]],"3":[[1]]}])", "step 0", "layer \"3\"", "lists 1 tokens"},
      {R"([{"1":[[1,2],[3,4]]},{"1":[[5]]}])", "step 1", "layer \"1\" token 0", "expected 2 (top-k"},
      {R"([{"1":[[1,2],[3]]}])", "step 0", "layer \"1\" token 1", "token lists 1 experts, expected 2"},
      {R"([{"1":[[]]}])", "step 0", "layer \"1\" token 0", "no experts"},
      {R"([{"1":[[-1]]}])", "step 0", "layer \"1\" token 0", "\"-1\" is not an integer in 0..65535"},
      {R"([{"1":[[65536]]}])", "step 0", "layer \"1\" token 0", "\"65536\" is not an integer"},
      {R"([{"1":[[1.5]]}])", "step 0", "layer \"1\" token 0", "\"1.5\" is not an integer"},
      {R"([{"1":[["3"]]}])", "step 0", "layer \"1\" token 0", "is not an integer"},
      {R"([{"1":[[2,5,2]]}])", "step 0", "layer \"1\" token 0", "expert id 2 is listed twice"},
      {R"([{"1":[3]}])", "step 0", "layer \"1\" token 0", "not a list of expert ids"},
      {R"([{"1":7}])", "step 0", "layer \"1\"", "must be null (dense) or a list"},
      {R"([{"0":null}])", "step 0", "", "no MoE layers"},
      {R"([{}])", "step 0", "", "no layer keys"},
      {R"([{"1":[[3]]},5])", "step 1", "", "not an object"},
      {R"([{"1":[]}])", "step 0", "", "request has no tokens"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    moeplan::Error e = parse_error(c.text);
    EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
    EXPECT_EQ(e.where().file, "dir/7.json");
    EXPECT_EQ(e.where().record, c.record);
    EXPECT_EQ(e.where().field, c.field);
    EXPECT_NE(e.message().find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);  // one line
  }
}

// A large k goes through the bit-set path for repeats.
TEST(ImportPaperC, LargeTopK) {
  std::string ids;
  for (int i = 0; i < 40; ++i) ids += (i ? "," : "") + std::to_string(39 - i);
  mt::ParsedFile pf = parse("[{\"1\":[[" + ids + "]]},{\"1\":[[" + ids + "]]}]");
  EXPECT_EQ(pf.model.top_k, 40);
  ASSERT_EQ(pf.requests[0].ids.size(), 80u);
  EXPECT_EQ(pf.requests[0].ids[0], 39);
  EXPECT_EQ(pf.requests[0].ids[79], 0);
  EXPECT_NE(parse_error("[{\"1\":[[" + ids + ",7]]}]").message().find("7 is listed twice"),
            std::string::npos);
}

TEST(ImportPaperC, RealMaverickSet) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  const fs::path dir = moeplan::testing::shared_dir() / "data/llama4-maverick-mmlu";
  mt::TraceSet set = mt::import_traces({dir.string()}, {});
  EXPECT_EQ(set.requests.size(), 235u);
  EXPECT_EQ(set.prefill_tokens(), 4833u);
  EXPECT_EQ(set.decode_tokens(), 29684u);
  EXPECT_EQ(set.model.num_layers, 48);
  std::vector<int> odd;
  for (int l = 1; l < 48; l += 2) odd.push_back(l);
  EXPECT_EQ(set.model.moe_layer_ids, odd);
  EXPECT_EQ(set.model.top_k, 1);
  EXPECT_EQ(set.model.num_experts, 128);
  EXPECT_EQ(set.ids.width(), 1);
  EXPECT_EQ(set.domains, (std::vector<std::string>{"abstract_algebra", "anatomy"}));
  for (std::size_t i = 0; i < set.requests.size(); ++i) {
    EXPECT_EQ(set.requests[i].id, std::to_string(i));  // numeric order across both subjects
    EXPECT_EQ(set.requests[i].domain, i < 100 ? 0u : 1u);
  }
  // Spot check against the text: anatomy/100.json step 0 layer "1" starts [[120],[115],[28].
  const auto& q = set.requests[100];
  EXPECT_EQ(q.source, (dir / "anatomy" / "100.json").string());
  const std::size_t per = set.ids_per_token();  // 24
  EXPECT_EQ(set.ids[(q.token_offset + 0) * per + 0], 120u);
  EXPECT_EQ(set.ids[(q.token_offset + 1) * per + 0], 115u);
  EXPECT_EQ(set.ids[(q.token_offset + 2) * per + 0], 28u);

  // Whole-request check of a few files against an independent parse (nlohmann::json).
  for (std::size_t r : {0, 57, 100, 234}) {
    SCOPED_TRACE(r);
    const auto& req = set.requests[r];
    auto bytes = moeplan::io::read_file(req.source);
    auto steps = nlohmann::json::parse(bytes.begin(), bytes.end());
    std::vector<std::uint16_t> expected;
    const std::size_t prefill = steps[0]["1"].size();
    for (std::size_t t = 0; t < prefill; ++t)
      for (int l : odd) expected.push_back(steps[0][std::to_string(l)][t][0].get<std::uint16_t>());
    for (std::size_t s = 1; s < steps.size(); ++s)
      for (int l : odd) expected.push_back(steps[s][std::to_string(l)][0][0].get<std::uint16_t>());
    EXPECT_EQ(req.prefill_tokens, prefill);
    EXPECT_EQ(req.decode_tokens, steps.size() - 1);
    EXPECT_EQ(mt::extract_request(set, r).ids, expected);
  }
}

// The fast scanner and the full simdjson importer agree on every real file and on layouts
// where only one of them runs (the scanner gives up on keys out of order or pretty-printing
// it does not expect; the result must not change).
TEST(ImportPaperC, FastScannerAgreesWithFullImporter) {
  auto same = [](const mt::ParsedFile& a, const mt::ParsedFile& b) {
    return a.model == b.model && a.requests.size() == 1 && b.requests.size() == 1 &&
           a.requests[0].ids == b.requests[0].ids &&
           a.requests[0].prefill_tokens == b.requests[0].prefill_tokens &&
           a.requests[0].decode_tokens == b.requests[0].decode_tokens;
  };
  const std::string in_order = R"([{"0":null,"1":[[3,1],[2,0]],"2":[[1,2],[0,3]]},{"0":null,"1":[[0,1]],"2":[[2,3]]}])";
  const std::string shuffled = "[ {\"2\" : [[1, 2], [0, 3]], \"0\": null, \"1\": [[3, 1], [2, 0]]},\n {\"1\":[[0,1]],\"0\":null,\"2\":[[2,3]]} ]";
  auto a = mt::parse_paper_c_json(in_order, "x/1.json", "d");
  auto b = mt::parse_paper_c_json(shuffled, "x/1.json", "d");
  auto c = mt::detail::parse_paper_c_json_full(in_order, "x/1.json", "d");
  EXPECT_TRUE(same(a, b));
  EXPECT_TRUE(same(a, c));
  EXPECT_EQ(a.requests[0].ids, (std::vector<std::uint16_t>{3, 1, 1, 2, 2, 0, 0, 3, 0, 1, 2, 3}));

  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(moeplan::testing::shared_dir() / "data/llama4-maverick-mmlu")) {
    if (e.path().extension() != ".json") continue;
    auto bytes = moeplan::io::read_file(e.path().string());
    mt::detail::PaperCScan scan;
    std::vector<char> padded(bytes.begin(), bytes.end());
    padded.resize(bytes.size() + 64, '\0');
    EXPECT_TRUE(mt::detail::scan_paper_c(padded.data(), bytes.size(), scan)) << e.path() << " took the slow path";
    EXPECT_TRUE(same(mt::parse_paper_c_json(bytes, e.path().string(), "d"),
                     mt::detail::parse_paper_c_json_full(bytes, e.path().string(), "d")))
        << e.path();
    ++files;
  }
  EXPECT_EQ(files, 235u);
}
