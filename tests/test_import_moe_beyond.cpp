// MoE-Beyond CSV importer: RFC 4180 details, the layer-major to token-major transposition,
// every rejection path, and the real DeepSeek-V2-Lite Puffin traces under ../shared.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/import.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
namespace fs = std::filesystem;

namespace {

const std::string kHeader = "Layer ID,Batch Number,Token,Activated Expert IDs";

mt::ParsedFile parse(const std::string& text, const std::string& path = "t/prompt_7_data.csv.zst") {
  return mt::parse_moe_beyond_csv({text.data(), text.size()}, path, "puffin");
}

moeplan::Error parse_error(const std::string& text) {
  return moeplan::testing::error_from([&] { parse(text); }, text);
}

}  // namespace

// 3 tokens x layers {1, 3}, top-3; token texts with a comma, "" escapes and a newline.
TEST(ImportMoeBeyond, SmallFileIsTransposedToTokenMajor) {
  const std::string text = kHeader + "\r\n"
      "1,0,<s>,\"[8, 26, 5]\"\r\n"
      "1,0,\"a,b\",\"[1, 2, 3]\"\r\n"
      "1,0,\"say \"\"hi\"\"\nthere\",\"[4, 5, 6]\"\r\n"
      "3,0,<s>,\"[0, 1, 2]\"\r\n"
      "3,0,\"a,b\",\"[9,7,8]\"\r\n"
      "3,0,\"say \"\"hi\"\"\nthere\",\"[ 10 , 12, 11 ]\"\r\n";
  mt::ParsedFile pf = parse(text);
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{1, 3}));
  EXPECT_EQ(pf.model.num_layers, 4);
  EXPECT_EQ(pf.model.top_k, 3);
  EXPECT_EQ(pf.model.num_experts, 0);
  ASSERT_EQ(pf.requests.size(), 1u);
  const auto& r = pf.requests[0];
  EXPECT_EQ(r.id, "prompt_7_data");
  EXPECT_EQ(r.domain, "puffin");
  EXPECT_EQ(r.source, "t/prompt_7_data.csv.zst");
  EXPECT_EQ(r.prefill_tokens, 3u);
  EXPECT_EQ(r.decode_tokens, 0u);
  // File order kept within a token (not sorted).
  EXPECT_EQ(r.ids, (std::vector<std::uint16_t>{8, 26, 5, 0, 1, 2,       // token 0: layer 1, layer 3
                                               1, 2, 3, 9, 7, 8,        // token 1
                                               4, 5, 6, 10, 12, 11}));  // token 2
}

TEST(ImportMoeBeyond, LfEndingsNoFinalNewlineBomAndTrailingBlankLines) {
  const std::string lf = kHeader + "\n1,0,a,[3]\n2,0,a,\"[4]\"";
  EXPECT_EQ(parse(lf).requests[0].ids, (std::vector<std::uint16_t>{3, 4}));
  const std::string bom = "\xEF\xBB\xBF" + kHeader + "\n5,0,x,[1]\n5,0,y,[2]\n\r\n\n";
  mt::ParsedFile pf = parse(bom, "prompt_1_data.csv");
  EXPECT_EQ(pf.requests[0].id, "prompt_1_data");
  EXPECT_EQ(pf.model.moe_layer_ids, (std::vector<int>{5}));
  EXPECT_EQ(pf.model.num_layers, 6);
  EXPECT_EQ(pf.requests[0].ids, (std::vector<std::uint16_t>{1, 2}));
}

TEST(ImportMoeBeyond, RejectsWithLocation) {
  struct Case {
    std::string body, record, field, message;  // body follows the header line
  };
  const std::vector<Case> cases = {
      {"1,0,a,[1]\n1,0,b,[2]\n2,0,a,[1]\n2,0,c,[2]\n", "line 5", "Token", "token 1 of layer 2 is \"c\" but \"b\""},
      {"1,0,a,[1]\n1,0,b,[2]\n2,0,a,[1]\n", "line 4", "Token", "layer 2 ends after 1 tokens but layer 1 has 2"},
      {"1,0,a,[1]\n1,0,b,[2]\n2,0,a,[1]\n3,0,a,[1]\n", "line 5", "Token", "layer 2 ends after 1 tokens"},
      {"1,0,a,[1]\n2,0,a,[1]\n2,0,b,[2]\n", "line 4", "Token", "more tokens than layer 1"},
      {"2,0,a,[1]\n1,0,a,[1]\n", "line 3", "Layer ID", "layer 1 after layer 2"},
      {"1,0,a,[1]\n2,0,a,[1]\n1,0,a,[1]\n", "line 4", "Layer ID", "contiguous blocks"},
      {"x,0,a,[1]\n", "line 2", "Layer ID", "not an integer"},
      {"1,-1,a,[1]\n", "line 2", "Batch Number", "not a non-negative integer"},
      {"1,0,a,[1]\n1,1,b,[2]\n", "line 3", "Batch Number", "batch 1 differs from batch 0 of line 2"},
      {"1,0,a,\"[1, 2\"\n", "line 2", "Activated Expert IDs", "expected , or ]"},
      {"1,0,a,\"[1, x]\"\n", "line 2", "Activated Expert IDs", "integers in 0..65535"},
      {"1,0,a,\"[1, 65536]\"\n", "line 2", "Activated Expert IDs", "integers in 0..65535"},
      {"1,0,a,\"[1, -2]\"\n", "line 2", "Activated Expert IDs", "integers in 0..65535"},
      {"1,0,a,\"[1, 1]\"\n", "line 2", "Activated Expert IDs", "expert id 1 is listed twice"},
      {"1,0,a,\"[]\"\n", "line 2", "Activated Expert IDs", "empty list"},
      {"1,0,a,\"1, 2\"\n", "line 2", "Activated Expert IDs", "expected a list"},
      {"1,0,a,\"[1] 2\"\n", "line 2", "Activated Expert IDs", "unexpected text after"},
      {"1,0,a,\"[1, 2]\"\n1,0,b,\"[3]\"\n", "line 3", "Activated Expert IDs", "lists 1 experts, expected 2"},
      {"1,0,\"a\nb,[1]\n", "line 2", "", "unterminated quoted field"},
      {"1,0,\"a\"b,[1]\n", "line 2", "", "after a closing quote"},
      {"1,0,a\"b,[1]\n", "line 2", "", "double quote inside an unquoted field"},
      {"1,0,a,[1]\r2,0,a,[1]\n", "line 2", "", "carriage return not followed by a line feed"},
      {"1,0,a\n", "line 2", "", "expected 4 fields, found 3"},
      {"1,0,a,[1],x\n", "line 2", "", "expected 4 fields, found 5"},
      {"1,0,a,[1]\n\n2,0,a,[1]\n", "line 3", "", "empty line"},
      {"1,0,\"multi\nline\",[1]\n1,0,b,[1]\n1,0,c,[1],\n", "line 5", "", "found 5"},  // line numbers count quoted newlines
      {"", "", "", "no data rows"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    moeplan::Error e = parse_error(kHeader + "\n" + c.body);
    EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
    EXPECT_EQ(e.where().file, "t/prompt_7_data.csv.zst");
    EXPECT_EQ(e.where().record, c.record);
    EXPECT_EQ(e.where().field, c.field);
    EXPECT_NE(e.message().find(c.message), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);  // one line
  }
  for (const std::string header : {"Layer ID,Batch Number,Token", "Layer ID,Batch,Token,Activated Expert IDs",
                                   "layer id,batch number,token,activated expert ids", ""}) {
    SCOPED_TRACE(header);
    moeplan::Error e = parse_error(header + "\n1,0,a,[1]\n");
    EXPECT_EQ(e.where().record, "line 1");
    EXPECT_EQ(e.where().field, "header");
  }
}

TEST(ImportMoeBeyond, RealDeepSeekTraces) {
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  const fs::path dir = moeplan::testing::shared_dir() / "data/deepseek-v2-lite-puffin/traces";
  mt::TraceSet set = mt::import_traces({dir.string()}, {});
  EXPECT_EQ(set.requests.size(), 999u);
  EXPECT_EQ(set.prefill_tokens(), 94165u);
  EXPECT_EQ(set.decode_tokens(), 0u);
  std::vector<int> layers;
  for (int l = 1; l <= 26; ++l) layers.push_back(l);
  EXPECT_EQ(set.model.moe_layer_ids, layers);
  EXPECT_EQ(set.model.num_layers, 27);
  EXPECT_EQ(set.model.top_k, 6);
  EXPECT_EQ(set.model.num_experts, 64);
  EXPECT_EQ(set.domains, (std::vector<std::string>{"traces"}));  // the folder name
  // Ordered by prompt number; prompt 317 is absent from the set.
  for (std::size_t i = 0; i < set.requests.size(); ++i) {
    const std::size_t n = i + 1 < 317 ? i + 1 : i + 2;
    ASSERT_EQ(set.requests[i].id, "prompt_" + std::to_string(n) + "_data");
  }
  // First row of prompt_1: layer 1, token 0, "[8, 26, 56, 57, 60, 43]" in this order.
  std::vector<std::uint32_t> first;
  for (std::size_t j = 0; j < 6; ++j) first.push_back(set.ids[j]);
  EXPECT_EQ(first, (std::vector<std::uint32_t>{8, 26, 56, 57, 60, 43}));

  // Whole-file check of prompt_1 against a naive parse: the data has no newline inside
  // quotes, and the ids are the last quoted field of each CRLF line.
  auto bytes = moeplan::io::read_file((dir / "prompt_1_data.csv.zst").string());
  const std::string text(bytes.begin(), bytes.end());
  const auto& req = set.requests[0];
  const mt::RequestRouting got = mt::extract_request(set, 0);
  std::size_t pos = text.find("\r\n") + 2, row = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find("\r\n", pos);
    const std::string line = text.substr(pos, eol - pos);
    const int layer = std::stoi(line.substr(0, line.find(',')));
    const std::size_t t = row % req.prefill_tokens;
    std::string list = line.substr(line.rfind("\"[") + 2);
    std::size_t j = 0, p = 0;
    while (p < list.size() && list[p] != ']') {
      std::size_t used = 0;
      const int id = std::stoi(list.substr(p), &used);
      EXPECT_EQ(got.ids[(t * 26 + static_cast<std::size_t>(layer - 1)) * 6 + j], id)
          << "layer " << layer << " token " << t;
      ++j;
      p += used;
      while (p < list.size() && (list[p] == ',' || list[p] == ' ')) ++p;
    }
    EXPECT_EQ(j, 6u);
    ++row;
    pos = eol + 2;
  }
  EXPECT_EQ(row, 26u * req.prefill_tokens);
}
