// EPLB (docs/eplb.md): every oracle case of ../shared/oracles/eplb/cases.json reproduced exactly
// through the library and the CLI, the README example by hand, the placement adapter, the
// preconditions, thread-count independence and the bad-input corpus (tests/bad-inputs/eplb_case).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/placement/eplb.hpp"
#include "support/support.hpp"

namespace {

using nlohmann::json;
using moeplan::ErrorKind;
using moeplan::testing::error_from;
using moeplan::testing::run_cli;
using moeplan::testing::TempDir;
using moeplan::testing::write_text;
namespace pl = moeplan::placement;

const char* kCases = "oracles/eplb/cases.json";

// Parsed once for all tests of this file (6.5 MB).
const json& load_cases() {
  static const json cases = [] {
    std::vector<char> bytes = moeplan::io::read_file((moeplan::testing::shared_dir() / kCases).string());
    return json::parse(bytes.begin(), bytes.end());
  }();
  return cases;
}

// The README example of DeepSeek's EPLB: 2 layers x 12 experts, 16 replicas, 4 groups, 2 nodes,
// 8 GPUs.
pl::EplbInput readme_input() {
  pl::EplbInput in;
  in.layers = 2;
  in.experts = 12;
  in.num_replicas = 16;
  in.num_groups = 4;
  in.num_nodes = 2;
  in.num_gpus = 8;
  in.weight = {90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86,
               20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27};
  return in;
}

// The case's inputs only (the oracle file also holds the outputs, which inputs may carry but
// which would only slow the parse down).
std::string case_input(const json& c) {
  json in = json::object();
  for (const char* k : {"name", "weight", "num_replicas", "num_groups", "num_nodes", "num_gpus"}) in[k] = c[k];
  return in.dump();
}

std::vector<std::int32_t> flat_ints(const json& j) {
  std::vector<std::int32_t> out;
  auto walk = [&out](const json& v, auto&& self) -> void {
    if (v.is_array())
      for (const json& x : v) self(x, self);
    else
      out.push_back(v.get<std::int32_t>());
  };
  walk(j, walk);
  return out;
}

// Per-GPU sorted lists of float32 slot loads (weight / logcnt): independent of tie order.
std::vector<std::vector<float>> gpu_loads(const pl::EplbInput& in, const std::vector<std::int32_t>& phy2log,
                                          const std::vector<std::int32_t>& logcnt, int layer) {
  const int R = in.num_replicas, spg = R / in.num_gpus;
  std::vector<std::vector<float>> out(in.num_gpus);
  for (int p = 0; p < R; ++p) {
    const int e = phy2log[static_cast<std::size_t>(layer) * R + p];
    out[p / spg].push_back(in.weight[static_cast<std::size_t>(layer) * in.experts + e] /
                           static_cast<float>(logcnt[static_cast<std::size_t>(layer) * in.experts + e]));
  }
  for (auto& v : out) std::sort(v.begin(), v.end());
  return out;
}

void expect_matches_case(const pl::EplbResult& r, const json& c) {
  EXPECT_EQ(r.policy, c["policy"].get<std::string>());
  EXPECT_EQ(r.phy2log, flat_ints(c["phy2log"]));
  EXPECT_EQ(r.logcnt, flat_ints(c["logcnt"]));
  EXPECT_EQ(r.max_logcnt, static_cast<int>(c["log2phy"][0][0].size()));
  EXPECT_EQ(r.log2phy, flat_ints(c["log2phy"]));
}

TEST(Eplb, EveryOracleCaseExactly) {
  MOEPLAN_REQUIRE_SHARED(kCases);
  const json& cases = load_cases();
  ASSERT_EQ(cases.size(), 48u);
  for (const json& c : cases) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    pl::EplbInput in = pl::read_eplb_case(case_input(c), name + ".json");
    pl::EplbResult r = pl::rebalance_experts(in);
    expect_matches_case(r, c);
  }
}

// Where PyTorch's unstable sort gave another answer, it may differ only by which of several
// equal-load items went where: same logcnt, and the same multiset of loads on every GPU.
TEST(Eplb, UnpinnedOracleDiffersOnlyByTies) {
  MOEPLAN_REQUIRE_SHARED(kCases);
  const json& cases = load_cases();
  int checked = 0;
  for (const json& c : cases) {
    if (!c["unpinned_sort_differs"].get<bool>()) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    pl::EplbInput in = pl::read_eplb_case(case_input(c), "case");
    pl::EplbResult r = pl::rebalance_experts(in);
    const json& u = c["unpinned_sort_result"];
    const auto u_phy = flat_ints(u["phy2log"]), u_cnt = flat_ints(u["logcnt"]);
    EXPECT_EQ(r.logcnt, u_cnt);
    for (int l = 0; l < in.layers; ++l)
      EXPECT_EQ(gpu_loads(in, r.phy2log, r.logcnt, l), gpu_loads(in, u_phy, u_cnt, l)) << "layer " << l;
    ++checked;
  }
  EXPECT_EQ(checked, 22);
}

// The README example, worked by hand (no ../shared needed). Layer 0 group sums are
// {0,1,2}=262, {3,4,5}=330, {6,7,8}=116, {9,10,11}=325; sorted 330, 325, 262, 116 they go to
// node 0, node 1, node 1 (325 < 330), node 0: node 0 holds experts 3..8, node 1 holds 9..11
// then 0..2, which is what the slots 0-7 and 8-15 below show.
TEST(Eplb, ReadmeExampleByHand) {
  pl::EplbResult r = pl::rebalance_experts(readme_input());
  EXPECT_EQ(r.policy, "hierarchical");
  EXPECT_EQ(r.groups_used, 4);
  EXPECT_EQ(r.nodes_used, 2);
  const std::vector<std::int32_t> phy2log = {5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1,
                                             7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1};
  EXPECT_EQ(r.phy2log, phy2log);  // as printed in EPLB's README
  const std::vector<std::int32_t> logcnt = {1, 2, 1, 1, 2, 2, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1};
  EXPECT_EQ(r.logcnt, logcnt);
  ASSERT_EQ(r.max_logcnt, 2);
  // log2phy by replica rank, not by slot: expert 1 of layer 0 has rank 0 in slot 15 (its
  // original slot in node 1) and rank 1 in slot 13.
  EXPECT_EQ(r.slot(0, 1, 0), 15);
  EXPECT_EQ(r.slot(0, 1, 1), 13);
  EXPECT_EQ(r.slot(0, 5, 0), 0);
  EXPECT_EQ(r.slot(0, 5, 1), 2);
  EXPECT_EQ(r.slot(0, 0, 0), 12);
  EXPECT_EQ(r.slot(0, 0, 1), -1);
  EXPECT_EQ(r.slot(1, 6, 0), 2);
  EXPECT_EQ(r.slot(1, 6, 1), 4);
  EXPECT_EQ(r.slot(1, 8, 0), 6);
  EXPECT_EQ(r.slot(1, 8, 1), 3);
  // Every slot is listed exactly once in log2phy.
  for (int l = 0; l < 2; ++l) {
    std::vector<int> seen(16, 0);
    for (int e = 0; e < 12; ++e)
      for (int k = 0; k < r.max_logcnt; ++k)
        if (r.slot(l, e, k) >= 0) {
          EXPECT_EQ(r.phy(l, r.slot(l, e, k)), e);
          ++seen[r.slot(l, e, k)];
        }
    EXPECT_EQ(seen, std::vector<int>(16, 1));
  }
}

TEST(Eplb, PolicyRuleAndForcing) {
  pl::EplbInput in = readme_input();
  // Forcing global equals groups = nodes = 1.
  pl::EplbResult forced = pl::rebalance_experts(in, pl::EplbPolicy::global);
  pl::EplbInput one = in;
  one.num_groups = 1;
  one.num_nodes = 1;
  pl::EplbResult plain = pl::rebalance_experts(one);
  EXPECT_EQ(forced.policy, "global");
  EXPECT_EQ(forced.phy2log, plain.phy2log);
  EXPECT_EQ(forced.log2phy, plain.log2phy);
  EXPECT_EQ(plain.policy, "hierarchical");  // G % N == 0 with G = N = 1
  // Auto with 3 groups on 2 nodes falls back to global; forcing hierarchical is refused.
  in.num_groups = 3;
  EXPECT_EQ(pl::rebalance_experts(in).policy, "global");
  EXPECT_EQ(pl::rebalance_experts(in).phy2log, forced.phy2log);
  moeplan::Error e = error_from([&] { pl::rebalance_experts(in, pl::EplbPolicy::hierarchical); }, "forced");
  EXPECT_EQ(e.kind(), ErrorKind::infeasible);
  EXPECT_EQ(e.message(), "num_groups 3 is not a multiple of num_nodes 2");
  EXPECT_EQ(pl::parse_eplb_policy("auto"), pl::EplbPolicy::automatic);
  EXPECT_EQ(error_from([] { pl::parse_eplb_policy("greedy"); }, "policy").kind(), ErrorKind::usage);
}

TEST(Eplb, PreconditionsNameTheCondition) {
  struct Bad {
    int E, R, G, N, P;
    ErrorKind kind;
    const char* message;
  };
  const Bad bad[] = {
      {12, 12, 4, 2, 3, ErrorKind::infeasible, "num_gpus 3 is not a multiple of num_nodes 2"},
      {12, 10, 4, 2, 8, ErrorKind::infeasible, "num_replicas 10 is not a multiple of num_gpus 8"},
      {12, 10, 1, 1, 4, ErrorKind::infeasible, "num_replicas 10 is not a multiple of num_gpus 4"},
      {12, 8, 4, 2, 8, ErrorKind::infeasible, "num_replicas 8 is less than experts 12"},
      {12, 16, 8, 4, 8, ErrorKind::infeasible, "experts 12 is not a multiple of num_groups 8"},
      // 3 groups on 2 nodes: global policy, where P % N is not a condition but R % P still is.
      {12, 16, 3, 2, 3, ErrorKind::infeasible, "num_replicas 16 is not a multiple of num_gpus 3 (global policy"},
      {12, 16, 4, 2, 0, ErrorKind::usage, "num_gpus must be positive, got 0"},
  };
  for (const Bad& b : bad) {
    pl::EplbInput in;
    in.layers = 1;
    in.experts = b.E;
    in.weight.assign(b.E, 1.0f);
    in.num_replicas = b.R;
    in.num_groups = b.G;
    in.num_nodes = b.N;
    in.num_gpus = b.P;
    moeplan::Error e = error_from([&] { pl::rebalance_experts(in); }, b.message);
    EXPECT_EQ(e.kind(), b.kind) << b.message;
    EXPECT_NE(e.message().find(b.message), std::string::npos) << e.what();
  }
  pl::EplbInput in = readme_input();
  in.weight[13] = -1.0f;
  moeplan::Error e = error_from([&] { pl::rebalance_experts(in); }, "negative");
  EXPECT_EQ(e.kind(), ErrorKind::bad_input);
  EXPECT_STREQ(e.what(), "layer 1: expert 1: weight -1 is negative");
}

TEST(Eplb, CaseParserConvertsToFloat32) {
  // 2^25 + 1 is not a float32: it becomes 2^25, as PyTorch's .float() makes it.
  pl::EplbInput in = pl::read_eplb_case(
      R"({"name": "x", "weight": [[33554433, 1.5, 0]], "num_replicas": 3, "num_groups": 1,
          "num_nodes": 1, "num_gpus": 1, "phy2log": "ignored"})",
      "x.json");
  EXPECT_EQ(in.layers, 1);
  EXPECT_EQ(in.experts, 3);
  EXPECT_EQ(in.weight, (std::vector<float>{33554432.0f, 1.5f, 0.0f}));
}

TEST(Eplb, AdapterPlacementMatchesPhy2log) {
  pl::ExpertLoads loads;
  pl::EplbInput in = readme_input();
  loads.layers = in.layers;
  loads.experts = in.experts;
  loads.load.assign(in.weight.begin(), in.weight.end());
  const pl::Cluster c{2, 4, 2};  // 2 nodes x 4 GPUs x 2 slots = 16 slots, 8 GPUs
  pl::Placement p = pl::eplb_placement(loads, c, pl::EplbPolicy::automatic, 4);
  pl::EplbResult r = pl::rebalance_experts(in);
  EXPECT_EQ(p.slot_expert, r.phy2log);
  EXPECT_EQ(p.algorithm, "eplb");
  EXPECT_EQ(p.cluster, c);
  EXPECT_EQ(p.layers, 2);
  EXPECT_EQ(p.num_experts, 12);
  EXPECT_EQ(p.provenance["policy"], "hierarchical");
  EXPECT_EQ(p.provenance["groups"], 4);
  EXPECT_NO_THROW(p.check("eplb"));
  for (int l = 0; l < 2; ++l)
    for (int e = 0; e < 12; ++e) EXPECT_EQ(p.replicas(l, e), r.count(l, e));
  // Groups not given: the node count (2 groups of 6 on 2 nodes).
  pl::Placement q = pl::eplb_placement(loads, c, pl::EplbPolicy::automatic, 0);
  EXPECT_EQ(q.provenance["groups"], 2);
  EXPECT_NO_THROW(q.check("eplb"));
  // 3 groups on 2 nodes: auto falls back to global, hierarchical is infeasible.
  EXPECT_EQ(pl::eplb_placement(loads, c, pl::EplbPolicy::automatic, 3).provenance["policy"], "global");
  EXPECT_EQ(error_from([&] { pl::eplb_placement(loads, c, pl::EplbPolicy::hierarchical, 3); }, "hier").kind(),
            ErrorKind::infeasible);
  // Too few slots for the experts.
  EXPECT_EQ(error_from([&] { pl::eplb_placement(loads, pl::Cluster{1, 2, 4}, pl::EplbPolicy::automatic, 1); }, "few")
                .kind(),
            ErrorKind::infeasible);
}

TEST(Eplb, AdapterOnBigOracleCase) {
  MOEPLAN_REQUIRE_SHARED(kCases);
  const json& cases = load_cases();
  for (const json& c : cases) {
    const std::string name = c["name"].get<std::string>();
    if (name != "big_58x256_r288_hier" && name != "big_58x256_r288_global") continue;
    SCOPED_TRACE(name);
    pl::EplbInput in = pl::read_eplb_case(case_input(c), name);
    pl::ExpertLoads loads;
    loads.layers = in.layers;
    loads.experts = in.experts;
    for (const json& row : c["weight"])
      for (const json& v : row) loads.load.push_back(v.get<double>());
    const int N = in.num_nodes, P = in.num_gpus;
    pl::Placement p = pl::eplb_placement(loads, pl::Cluster{N, P / N, in.num_replicas / P},
                                         pl::EplbPolicy::automatic, in.num_groups);
    EXPECT_EQ(p.slot_expert, flat_ints(c["phy2log"]));
    EXPECT_EQ(p.provenance["policy"], c["policy"]);
    EXPECT_NO_THROW(p.check(name));
  }
}

// Results do not depend on the thread count (a synthetic skewed input, no ../shared needed).
TEST(Eplb, SameResultForAnyThreadCount) {
  pl::EplbInput in;
  in.layers = 61;
  in.experts = 256;
  in.num_replicas = 320;
  in.num_groups = 8;
  in.num_nodes = 4;
  in.num_gpus = 32;
  std::uint64_t x = 12345;
  for (int i = 0; i < in.layers * in.experts; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    in.weight.push_back(static_cast<float>((x >> 33) % 1000 * ((x >> 20) % 7 == 0 ? 40 : 1)));
  }
  const int saved = omp_get_max_threads();
  std::vector<pl::EplbResult> results;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    results.push_back(pl::rebalance_experts(in));
    results.push_back(pl::rebalance_experts(in, pl::EplbPolicy::global));
  }
  omp_set_num_threads(saved);
  for (std::size_t i = 2; i < results.size(); ++i) {
    EXPECT_EQ(results[i].phy2log, results[i % 2].phy2log) << i;
    EXPECT_EQ(results[i].log2phy, results[i % 2].log2phy) << i;
    EXPECT_EQ(results[i].logcnt, results[i % 2].logcnt) << i;
  }
}

TEST(EplbCli, EveryOracleCaseThroughTheCli) {
  MOEPLAN_REQUIRE_SHARED(kCases);
  const json& cases = load_cases();
  TempDir tmp;
  for (const json& c : cases) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    const std::string path = tmp.file(name + ".json");
    write_text(path, case_input(c));
    auto r = run_cli({"eplb", "--input", path, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    // One compact line; compared as text (nlohmann orders the keys), which also pins the format.
    const json expected = {{"policy", c["policy"]}, {"phy2log", c["phy2log"]}, {"logcnt", c["logcnt"]},
                           {"log2phy", c["log2phy"]}};
    EXPECT_TRUE(r.out == expected.dump() + "\n") << r.out.substr(0, 200);
  }
}

TEST(EplbCli, ReadmeExampleFileAndTable) {
  const std::string path = (moeplan::testing::source_dir() / "examples/eplb/readme_example.json").string();
  auto j = run_cli({"eplb", "--input", path, "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const json out = json::parse(j.out);
  EXPECT_EQ(out["phy2log"][0], json({5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1}));
  EXPECT_EQ(out["log2phy"][0][1], json({15, 13}));
  auto t = run_cli({"eplb", "--input", path});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("EPLB hierarchical policy: 2 layers, 12 experts, 16 slots on 8 GPUs"), std::string::npos)
      << t.out;
  // Layer 0: GPU 0 holds experts 5 and 6; expert loads / copies 165/2 + 39 = 121.5.
  EXPECT_NE(t.out.find("    0  5 6                           121.5\n"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("replicated (expert x copies): 1x2 4x2 5x2 10x2"), std::string::npos) << t.out;
  auto g = run_cli({"eplb", "--input", path, "--json", "--policy", "global"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(json::parse(g.out)["policy"], "global");
  EXPECT_EQ(run_cli({"eplb", "--input", path, "--policy", "greedy"}).exit_code, 2);
  auto missing = run_cli({"eplb", "--input", "/nonexistent/case.json"});
  EXPECT_EQ(missing.exit_code, 5);
  EXPECT_EQ(missing.out, "");
}

// tests/bad-inputs/eplb_case/: every file is listed in MANIFEST.tsv (file, exit code, substring
// of the one stderr line, extra CLI args) and refused with nothing on stdout.
TEST(EplbCli, BadInputCorpus) {
  const auto dir = moeplan::testing::source_dir() / "tests/bad-inputs/eplb_case";
  std::ifstream manifest(dir / "MANIFEST.tsv");
  ASSERT_TRUE(manifest) << "missing MANIFEST.tsv";
  std::map<std::string, int> listed;
  std::string line;
  while (std::getline(manifest, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string col; std::getline(ss, col, '\t');) cols.push_back(col);
    ASSERT_GE(cols.size(), 3u) << line;
    const std::string& file = cols[0];
    SCOPED_TRACE(file);
    ++listed[file];
    const std::string path = (dir / file).string();
    std::vector<std::string> args = {"eplb", "--input", path, "--json"};
    if (cols.size() > 3 && !cols[3].empty()) {
      std::stringstream extra(cols[3]);
      for (std::string a; extra >> a;) args.push_back(a);
    }
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, std::stoi(cols[1])) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(cols[2]), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == "MANIFEST.tsv" || name == "COMMAND") continue;  // COMMAND: for test_bad_input_corpus
    ++files;
    EXPECT_EQ(listed[name], 1) << name << " must be listed once in MANIFEST.tsv";
  }
  EXPECT_GE(files, 8u);
}

}  // namespace
