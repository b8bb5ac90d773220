// moeplan sweep: the grid schema, point numbering, every point equal to the single-point
// estimators, infeasible points as rows with a reason, identical output for any thread count,
// the Pareto frontier, and the CLI (bad grids: tests/bad-inputs/sweep_grid/ via the corpus test).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moeplan/io/error.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/sweep.hpp"
#include "moeplan/perf/zoo.hpp"
#include "support/support.hpp"

using namespace moeplan::perf;

namespace {

const char* kGrid = R"(
models: [llama-3.1-8b, mixtral-8x7b]
hardware: [h100_sxm]
dtypes: [auto, fp8]
parallel: {tp: [1, 2, 3], ep: [1, 2]}
load: {batch: [1, 512], concurrency: [16], input_len: [1024, 32768], output_len: 128}
)";

std::string run_all(const Sweep& s, SweepRun* run = nullptr) {
  std::string csv;
  SweepRun r = run_sweep(s, 0, 0, true, [&](const std::string& b) { csv += b; }, {});
  if (run) *run = r;
  return csv;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(Sweep, GridParsesWithDefaults) {
  SweepGrid g = parse_sweep_grid(kGrid, "g.yaml");
  EXPECT_EQ(g.models.size(), 2u);
  EXPECT_EQ(g.backends, std::vector<std::string>{"none"});
  EXPECT_EQ(g.pp, std::vector<int>{1});
  EXPECT_EQ(g.tp, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(g.output_len, std::vector<std::int64_t>{128});  // a scalar is a one-element list
  Sweep s(g, nullptr);
  // 2 models x 1 hw x 1 backend x 2 dtypes x 3 tp x 1 pp x 2 ep x 1 dp x 1 moe_tp x 3 loads x 2 inputs x 1 output
  EXPECT_EQ(s.size(), 2u * 2 * 3 * 2 * 3 * 2);
  // Innermost axis last: point 1 differs from point 0 in the input length only.
  SweepIndex a = s.index(1);
  EXPECT_EQ(a.input, 1);
  EXPECT_EQ(a.model, 0);
  SweepIndex last = s.index(s.size() - 1);
  EXPECT_EQ(last.model, 1);
  EXPECT_EQ(last.tp, 2);
  EXPECT_EQ(last.load, 2);
}

TEST(Sweep, PointsEqualTheSingleEstimators) {
  Sweep s(parse_sweep_grid(kGrid, "g.yaml"), nullptr);
  ModelSpec mixtral = load_model("mixtral-8x7b");
  Precision prec = apply_weight_dtype(mixtral, DType::fp8);
  Hardware hw = load_hardware("h100_sxm");
  EstimateRequest r;
  r.model = &mixtral;
  r.hardware = &hw;
  r.precision = prec;
  r.efficiency = Efficiency::defaults();
  r.parallel = Parallel{2, 1, 2, 1};
  r.workload = Workload{1, 1024, 128};
  Estimate e = estimate(r);
  ServingEstimate se = serve_aggregated(r, ServingWorkload{16, 1024, 128}, ServingParams{});
  bool batch_seen = false, serving_seen = false;
  for (std::uint64_t i = 0; i < s.size(); ++i) {
    SweepIndex x = s.index(i);
    if (x.model != 1 || x.dtype != 1 || x.tp != 1 || x.ep != 1 || x.input != 0) continue;
    SweepResult p = s.evaluate(i);
    ASSERT_TRUE(p.feasible) << p.reason;
    if (x.load == 0) {
      batch_seen = true;
      EXPECT_DOUBLE_EQ(p.ttft_s, e.ttft_s);
      EXPECT_DOUBLE_EQ(p.tpot_s, e.tpot_s);
      EXPECT_DOUBLE_EQ(p.throughput_tokens_per_s_per_gpu, e.throughput_tokens_per_s_per_gpu);
      EXPECT_DOUBLE_EQ(p.weights_bytes_per_gpu, e.memory.weights_bytes_per_gpu);
    } else if (x.load == 2) {
      serving_seen = true;
      EXPECT_DOUBLE_EQ(p.ttft_s, se.ttft_s);
      EXPECT_DOUBLE_EQ(p.tpot_s, se.tpot_s);
      EXPECT_DOUBLE_EQ(p.throughput_tokens_per_s, se.throughput_tokens_per_s);
    }
  }
  EXPECT_TRUE(batch_seen && serving_seen);
}

TEST(Sweep, InfeasiblePointsAreRowsWithAReason) {
  Sweep s(parse_sweep_grid(kGrid, "g.yaml"), nullptr);
  SweepRun run;
  std::string csv = run_all(s, &run);
  auto rows = lines(csv);
  ASSERT_EQ(rows.size(), s.size());
  EXPECT_GT(run.feasible, 0u);
  EXPECT_LT(run.feasible, s.size());
  auto count = [&](const std::string& what) {
    return std::count_if(rows.begin(), rows.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  // tp 3 divides neither model's 32 heads; ep 2 on the dense model; batch 512 x 32k tokens
  // of KV cache does not fit one H100.
  EXPECT_EQ(count("tp 3 does not divide the 32 attention heads"), 2 * 2 * 2 * 3 * 2);
  EXPECT_GT(count("ep 2 given, but llama-3.1-8b has no experts"), 0);
  EXPECT_GT(count("does not fit"), 0);
  for (const auto& l : rows) {
    // 31 columns: commas outside quotes = 30.
    int commas = 0;
    bool quoted = false;
    for (char c : l) {
      if (c == '"') quoted = !quoted;
      commas += !quoted && c == ',';
    }
    EXPECT_EQ(commas, 30) << l;
  }
}

// The options axes: each point equals estimate() with the same micro-batches, overlap, dedup,
// all-reduce algorithm and MTP speculation; impossible combinations are rows with a reason.
TEST(Sweep, OptionsAreAxesToo) {
  Sweep s(parse_sweep_grid("models: deepseek-v3\nhardware: h200_sxm\nparallel: {tp: 8, ep: 8, pp: [1, 2]}\n"
                           "load: {batch: 8, concurrency: 16, input_len: 1024, output_len: 128}\n"
                           "options: {microbatches: [1, 2], overlap: [0, 0.5], a2a_dedup: [false, true],\n"
                           "          all_reduce: [ring, best], speculation: [none, 1@0.8]}\n",
                           "g.yaml"),
          nullptr);
  EXPECT_EQ(s.size(), 2u * 2 * 2 * 2 * 2 * 2 * 2);
  ModelSpec m = load_model("deepseek-v3");
  Hardware hw = load_hardware("h200_sxm");
  int compared = 0, refused = 0;
  for (std::uint64_t i = 0; i < s.size(); ++i) {
    const SweepIndex x = s.index(i);
    EstimateRequest r;
    r.model = &m;
    r.hardware = &hw;
    r.efficiency = Efficiency::defaults();
    r.parallel = Parallel{8, x.pp == 0 ? 1 : 2, 8, 1};
    r.parallel.microbatches = x.microbatches == 0 ? 1 : 2;
    r.efficiency.comm_overlap = x.overlap == 0 ? 0 : 0.5;
    r.efficiency.a2a_node_dedup = x.a2a_dedup == 1;
    r.efficiency.all_reduce = x.all_reduce == 0 ? Efficiency::AllReduce::ring : Efficiency::AllReduce::best;
    if (x.speculation == 1) r.speculation = Speculation{1, 0.8, nullptr};
    r.workload = Workload{8, 1024, 128};
    const SweepResult p = s.evaluate(i);
    // Micro-batches need pipeline stages, and serving has none.
    if (r.parallel.microbatches > 1 && (x.load == 1 || r.parallel.pp == 1)) {
      EXPECT_FALSE(p.feasible);
      EXPECT_NE(p.reason.find("micro-batches"), std::string::npos) << p.reason;
      ++refused;
      continue;
    }
    ASSERT_TRUE(p.feasible) << s.describe(i) << ": " << p.reason;
    if (x.load == 0) {
      const Estimate e = estimate(r);
      EXPECT_DOUBLE_EQ(p.tpot_s, e.tpot_s) << s.describe(i);
      EXPECT_DOUBLE_EQ(p.ttft_s, e.ttft_s) << s.describe(i);
    } else {
      const ServingEstimate e = serve_aggregated(r, ServingWorkload{16, 1024, 128}, ServingParams{});
      EXPECT_DOUBLE_EQ(p.tpot_s, e.tpot_s) << s.describe(i);
    }
    ++compared;
  }
  EXPECT_EQ(refused, 32 + 16);  // of the 64 points with 2 micro-batches
  EXPECT_EQ(compared + refused, static_cast<int>(s.size()));
  std::string row;
  s.csv_row(s.size() - 1, s.evaluate(s.size() - 1), row);
  EXPECT_NE(row.find(",2,0.5,1,best,1@0.8,serving,"), std::string::npos) << row;
  EXPECT_NE(s.describe(s.size() - 1).find("mb2 overlap0.5 dedup ar-best spec1@0.8"), std::string::npos) << s.describe(s.size() - 1);
  for (const char* bad : {"speculation: [2]", "speculation: [1@2]", "overlap: [1.5]", "a2a_dedup: [yes]", "all_reduce: [star]",
                          "microbatches: [0]", "tiles: [1]"}) {
    try {
      parse_sweep_grid(std::string("models: x\nhardware: y\nload: {batch: 1}\noptions: {") + bad + "}\n", "g.yaml");
      ADD_FAILURE() << bad << " accepted";
    } catch (const moeplan::Error& e) {
      EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input) << bad;
      EXPECT_EQ(e.where().field.rfind("options.", 0), 0u) << bad << ": " << e.what();
    }
  }
}

TEST(Sweep, MoeTpMustMatchTheLayout) {
  Sweep s(parse_sweep_grid("models: mixtral-8x7b\nhardware: h200_sxm\nparallel: {tp: 4, ep: [1, 2, 4], moe_tp: [1, 4]}\n"
                           "load: {batch: 8}\n",
                           "g.yaml"),
          nullptr);
  ASSERT_EQ(s.size(), 6u);
  int ok = 0;
  for (std::uint64_t i = 0; i < s.size(); ++i) {
    SweepResult r = s.evaluate(i);
    SweepIndex x = s.index(i);
    const int ep = std::vector<int>{1, 2, 4}[x.ep], moe_tp = std::vector<int>{1, 4}[x.moe_tp];
    if (ep * moe_tp == 4) {
      EXPECT_TRUE(r.feasible) << r.reason;
      ++ok;
    } else {
      EXPECT_EQ(r.reason, fmt::format("moe_tp {} x ep {} != tp x dp = 4", moe_tp, ep));
    }
  }
  EXPECT_EQ(ok, 2);  // ep 1 x moe_tp 4, ep 4 x moe_tp 1
}

TEST(Sweep, SameRowsForAnyThreadCount) {
  Sweep s(parse_sweep_grid(kGrid, "g.yaml"), nullptr);
#ifdef _OPENMP
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  SweepRun r1;
  std::string one = run_all(s, &r1);
  omp_set_num_threads(3);
  SweepRun r3;
  std::string three = run_all(s, &r3);
  omp_set_num_threads(before);
  EXPECT_EQ(one, three);
  ASSERT_EQ(r1.pareto.size(), r3.pareto.size());
  for (std::size_t i = 0; i < r1.pareto.size(); ++i) EXPECT_EQ(r1.pareto[i].index, r3.pareto[i].index);
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

TEST(Sweep, ParetoFrontierByHand) {
  // (index, throughput per GPU, tpot): 3 is dominated by 1 (slower and less throughput),
  // 4 duplicates 2 with a higher index, 5 trades latency for throughput.
  std::vector<ParetoPoint> c = {{0, 100, 0.010, 0}, {1, 300, 0.020, 0}, {2, 500, 0.040, 0},
                                {3, 250, 0.030, 0}, {4, 500, 0.040, 0}, {5, 900, 0.080, 0}, {6, 50, 0.010, 0}};
  auto f = pareto_frontier(c);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0].index, 0u);
  EXPECT_EQ(f[1].index, 1u);
  EXPECT_EQ(f[2].index, 2u);
  EXPECT_EQ(f[3].index, 5u);
  // Merging per block gives the same frontier.
  std::vector<ParetoPoint> a(c.begin(), c.begin() + 3), b(c.begin() + 3, c.end());
  auto fa = pareto_frontier(a);
  fa.insert(fa.end(), b.begin(), b.end());
  auto g = pareto_frontier(fa);
  ASSERT_EQ(g.size(), f.size());
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i].index, f[i].index);
}

TEST(Sweep, CliWritesCsvAndFrontier) {
  moeplan::testing::TempDir dir;
  std::string grid = dir.file("grid.yaml"), out = dir.file("out.csv");
  moeplan::testing::write_text(grid, kGrid);
  auto r = moeplan::testing::run_cli({"sweep", grid, "-o", out, "--pareto", "--max-tpot", "0.02"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  auto rows = lines(ss.str());
  ASSERT_EQ(rows.size(), 1 + 2u * 2 * 3 * 2 * 3 * 2);
  EXPECT_EQ(rows[0] + "\n", Sweep::csv_header());
  EXPECT_NE(r.out.find("Pareto frontier"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("144 points"), std::string::npos) << r.err;
  EXPECT_EQ(dir.entries().size(), 2u);  // grid and CSV, no temporary left
}

TEST(Sweep, BackendWithoutCalibrationEntryIsNamed) {
  SweepGrid g = parse_sweep_grid("models: llama-3.1-8b\nhardware: h100_sxm\nbackends: [none, vllm]\nload: {batch: 1}\n", "g.yaml");
  CalibrationSet empty;
  auto e = moeplan::testing::error_from([&] { Sweep s(g, &empty); }, "no calibration");
  EXPECT_EQ(e.kind(), moeplan::ErrorKind::bad_input);
  EXPECT_NE(std::string(e.what()).find("backends[1]"), std::string::npos) << e.what();
}
