// Determinism across thread counts: every multi-threaded step (import: files parsed in
// parallel and assembled in parallel; analysis: loads, imbalance, coverage, co-activation,
// domains) gives bit-identical results with 1, 2 and 3 OpenMP threads. Inputs: many small
// files of each text importer (written here from a fixed LCG), the npy/npz fixtures of
// tests/data, the two sample stores of data/samples, a synthetic trace, and (when present)
// the real sets under ../shared.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "moeplan/analysis/loads.hpp"
#include "moeplan/analysis/report.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/store.hpp"
#include "moeplan/trace/synth.hpp"
#include "support/support.hpp"

namespace fs = std::filesystem;
namespace mt = moeplan::trace;
namespace ma = moeplan::analysis;
using moeplan::testing::TempDir;
using moeplan::testing::write_text;

namespace {

constexpr int kThreadCounts[] = {1, 2, 3};

// Runs f once per thread count and restores the previous setting.
template <class F>
void for_each_thread_count(F&& f, std::vector<int> counts = {std::begin(kThreadCounts), std::end(kThreadCounts)}) {
  const int saved = omp_get_max_threads();
  for (int threads : counts) {
    omp_set_num_threads(threads);
    f(threads);
  }
  omp_set_num_threads(saved);
}

struct Lcg {
  std::uint64_t s;
  std::uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::uint32_t>(s >> 33);
  }
};

// k distinct ids below E.
std::vector<int> pick(Lcg& g, int k, int experts) {
  std::vector<int> ids;
  while (static_cast<int>(ids.size()) < k) {
    int v = static_cast<int>(g.next() % static_cast<std::uint32_t>(experts));
    if (std::find(ids.begin(), ids.end(), v) == ids.end()) ids.push_back(v);
  }
  return ids;
}

std::string list(const std::vector<int>& ids, const char* sep) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
  return s + "]";
}

// Files of varied lengths, so that dynamic scheduling hands them out unevenly.
void write_jsonl_files(const fs::path& dir, int files) {
  Lcg g{7};
  fs::create_directories(dir);
  for (int f = 0; f < files; ++f) {
    std::string text =
        "{\"moeplan_jsonl\": 1, \"moe_layer_ids\": [0, 2, 5], \"num_experts\": 40, \"top_k\": 3}\n";
    for (int r = 0; r < 3; ++r) {
      text += "{\"id\": \"f" + std::to_string(f) + "r" + std::to_string(r) + "\", \"prefill\": [";
      const int tokens = 1 + static_cast<int>(g.next() % 30);
      for (int t = 0; t < tokens; ++t) {
        text += t ? ", [" : "[";
        for (int l = 0; l < 3; ++l) text += (l ? ", " : "") + list(pick(g, 3, 40), ", ");
        text += "]";
      }
      text += "]}\n";
    }
    write_text((dir / ("part" + std::to_string(f) + ".jsonl")).string(), text);
  }
}

void write_paper_c_files(const fs::path& dir, int files) {
  Lcg g{11};
  fs::create_directories(dir);
  for (int f = 0; f < files; ++f) {
    auto step = [&](int tokens) {
      std::string s = "{\"0\":null";
      for (int layer : {1, 3}) {
        s += ",\"" + std::to_string(layer) + "\":[";
        for (int t = 0; t < tokens; ++t) s += (t ? "," : "") + list(pick(g, 2, 16), ",");
        s += "]";
      }
      return s + "}";
    };
    std::string text = "[" + step(1 + static_cast<int>(g.next() % 20));
    const int decode = static_cast<int>(g.next() % 25);
    for (int d = 0; d < decode; ++d) text += "," + step(1);
    write_text((dir / (std::to_string(f) + ".json")).string(), text + "]");
  }
}

void write_csv_files(const fs::path& dir, int files) {
  Lcg g{13};
  fs::create_directories(dir);
  for (int f = 0; f < files; ++f) {
    std::string text = "Layer ID,Batch Number,Token,Activated Expert IDs\n";
    const int tokens = 1 + static_cast<int>(g.next() % 15);
    for (int layer = 1; layer <= 4; ++layer)
      for (int t = 0; t < tokens; ++t)
        text += std::to_string(layer) + ",0,tok" + std::to_string(t) + ",\"" + list(pick(g, 4, 64), ", ") + "\"\n";
    write_text((dir / ("prompt_" + std::to_string(f) + "_data.csv")).string(), text);
  }
}

// Imports the inputs with each thread count: same content and same provenance every time.
void expect_import_deterministic(const std::vector<std::string>& inputs, std::size_t min_requests,
                                 std::vector<int> counts = {1, 2, 3}) {
  mt::TraceSet reference;
  for_each_thread_count([&](int threads) {
    mt::TraceSet set = mt::import_traces(inputs, {});
    if (threads == 1) {
      EXPECT_GE(set.requests.size(), min_requests);
      reference = std::move(set);
      return;
    }
    EXPECT_TRUE(mt::same_content(set, reference)) << threads << " threads";
    EXPECT_EQ(set.provenance, reference.provenance) << threads << " threads";
  }, counts);
}

// analyze() and compute_loads() with each thread count: identical JSON and load matrices.
void expect_analysis_deterministic(const mt::TraceSet& set, std::vector<int> counts = {1, 2, 3}) {
  std::string reference_json;
  ma::PhaseLoads reference_loads;
  for_each_thread_count([&](int threads) {
    const std::string json = ma::to_json(ma::analyze(set)).dump();
    ma::PhaseLoads loads = ma::compute_loads(set);
    if (threads == 1) {
      reference_json = json;
      reference_loads = std::move(loads);
      EXPECT_GT(reference_loads.all.total(), 0u);
      return;
    }
    EXPECT_EQ(json, reference_json) << threads << " threads";
    for (auto p : {ma::PhaseSel::prefill, ma::PhaseSel::decode, ma::PhaseSel::all})
      EXPECT_EQ(loads[p].counts, reference_loads[p].counts) << threads << " threads, phase "
                                                            << ma::phase_sel_name(p);
  }, counts);
}

}  // namespace

TEST(Determinism, ImportJsonlFiles) {
  TempDir tmp;
  write_jsonl_files(tmp.path() / "jsonl", 24);
  expect_import_deterministic({(tmp.path() / "jsonl").string()}, 72);
}

TEST(Determinism, ImportPaperCFiles) {
  TempDir tmp;
  write_paper_c_files(tmp.path() / "paper_c", 40);
  expect_import_deterministic({(tmp.path() / "paper_c").string()}, 40);
}

TEST(Determinism, ImportMoeBeyondCsvFiles) {
  TempDir tmp;
  write_csv_files(tmp.path() / "csv", 40);
  expect_import_deterministic({(tmp.path() / "csv").string()}, 40);
}

TEST(Determinism, ImportNpyAndNpzFixtures) {
  const fs::path npy = moeplan::testing::source_dir() / "tests/data/npy";
  // Each archive holds several members (requests); the .npy files in one import together.
  expect_import_deterministic({(npy / "stored.npz").string()}, 2);
  expect_import_deterministic({(npy / "compressed.npz").string()}, 2);
  TempDir tmp;
  for (int copy = 0; copy < 8; ++copy)
    fs::copy_file(npy / "u8.npy", tmp.path() / ("r" + std::to_string(copy) + ".npy"));
  expect_import_deterministic({tmp.path().string()}, 8);
}

TEST(Determinism, AnalysisOfSampleStores) {
  for (const char* name : {"deepseek-v2-lite-puffin-40.moet", "maverick-mmlu-40.moet"}) {
    SCOPED_TRACE(name);
    const auto path = moeplan::testing::source_dir() / "data/samples" / name;
    mt::TraceSet set = mt::import_traces({path.string()}, {});
    EXPECT_EQ(set.requests.size(), 40u);
    expect_analysis_deterministic(set);
  }
}

TEST(Determinism, SynthesisAndAnalysisOfASyntheticTrace) {
  mt::SynthParams p;
  p.requests = 120;
  p.layers = 6;
  p.experts = 32;
  p.top_k = 4;
  p.domains = {"a", "b", "c"};
  p.prefill = mt::LengthDist::parse("uniform:4:40");
  p.decode = mt::LengthDist::parse("uniform:0:20");
  mt::TraceSet reference;
  for_each_thread_count([&](int threads) {
    mt::TraceSet set = mt::synthesize(p);
    if (threads == 1)
      reference = std::move(set);
    else
      EXPECT_TRUE(mt::same_content(set, reference)) << threads << " threads";
  });
  ASSERT_GT(reference.decode_tokens(), 0u);
  expect_analysis_deterministic(reference);
}

// The real sets (../shared): 1 vs 2 threads only, to keep the test short.
TEST(Determinism, RealSharedSets) {
  MOEPLAN_REQUIRE_SHARED("data/llama4-maverick-mmlu");
  MOEPLAN_REQUIRE_SHARED("data/deepseek-v2-lite-puffin/traces");
  const fs::path shared = moeplan::testing::shared_dir() / "data";
  for (const char* dir : {"llama4-maverick-mmlu", "deepseek-v2-lite-puffin/traces"}) {
    SCOPED_TRACE(dir);
    expect_import_deterministic({(shared / dir).string()}, 235, {1, 2});
  }
  expect_analysis_deterministic(mt::import_traces({(shared / "llama4-maverick-mmlu").string()}, {}), {1, 2});
}
