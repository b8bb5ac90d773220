// The trace CLI on a .moet built in the test: exit codes, --json keys, no partial outputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "support/support.hpp"

namespace mt = moeplan::trace;
using moeplan::testing::run_cli;
using moeplan::testing::TempDir;

namespace {

std::string make_trace(const TempDir& dir) {
  std::vector<mt::ParsedFile> files(1);
  files[0].model = {"tiny", 2, {1}, 8, 1};
  for (int r = 0; r < 3; ++r) {
    mt::RequestRouting q;
    q.id = "r" + std::to_string(r);
    q.domain = r == 2 ? "b" : "a";
    q.prefill_tokens = 2;
    q.decode_tokens = static_cast<std::uint32_t>(r);
    for (std::uint32_t t = 0; t < q.prefill_tokens + q.decode_tokens; ++t)
      q.ids.push_back(static_cast<std::uint16_t>((r + t) % 8));
    files[0].requests.push_back(q);
  }
  std::string path = dir.file("tiny.moet");
  mt::save_moet(mt::assemble(std::move(files), {}), path);
  return path;
}

}  // namespace

TEST(CliTrace, InfoJsonHasTheCounts) {
  TempDir dir;
  auto r = run_cli({"trace", "info", make_trace(dir), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["requests"], 3);
  EXPECT_EQ(j["prefill_tokens"], 6);
  EXPECT_EQ(j["decode_tokens"], 3);
  EXPECT_EQ(j["moe_layers"], 1);
  EXPECT_EQ(j["experts"], 8);
  EXPECT_EQ(j["top_k"], 1);
  EXPECT_EQ(j["domains"]["a"], 2);
  EXPECT_EQ(j["domains"]["b"], 1);
}

TEST(CliTrace, ConvertRoundTripsAndValidates) {
  TempDir dir;
  std::string in = make_trace(dir);
  auto r = run_cli({"trace", "convert", in, "-o", dir.file("copy.moet"), "--compress"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(mt::same_content(mt::load_moet(in), mt::load_moet(dir.file("copy.moet"))));
  auto v = run_cli({"trace", "validate", dir.file("copy.moet"), "--round-trip"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("valid: 3 requests, 9 tokens"), std::string::npos) << v.out;
}

TEST(CliTrace, ErrorsAreOneLineWithDocumentedExitCodes) {
  TempDir dir;
  auto missing = run_cli({"trace", "info", dir.file("nope.json")});
  EXPECT_EQ(missing.exit_code, 5);  // io
  EXPECT_NE(missing.err.find("nope.json"), std::string::npos);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;

  moeplan::testing::write_text(dir.file("junk.txt"), "hello");
  auto junk = run_cli({"trace", "convert", dir.file("junk.txt"), "-o", dir.file("out.moet")});
  EXPECT_EQ(junk.exit_code, 3);  // bad input
  EXPECT_NE(junk.err.find("unrecognised trace format"), std::string::npos) << junk.err;

  auto usage = run_cli({"trace", "info"});
  EXPECT_EQ(usage.exit_code, 2);

  auto experts = run_cli({"trace", "info", make_trace(dir), "--experts", "4"});
  EXPECT_EQ(experts.exit_code, 2) << experts.err;
  // No output file or temporary was left by the failed convert.
  for (const auto& e : dir.entries()) EXPECT_TRUE(e == "junk.txt" || e == "tiny.moet") << e;
}

TEST(CliTrace, HelpWorksEverywhere) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--help"}, {"trace", "--help"}, {"trace", "info", "--help"},
           {"trace", "convert", "--help"}, {"trace", "validate", "--help"},
           {"trace", "synth", "--help"}}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << args.back();
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}
