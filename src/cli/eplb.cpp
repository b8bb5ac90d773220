// moeplan eplb: DeepSeek's EPLB on one case file (EPLB's own arguments as JSON), printing
// phy2log / logcnt / log2phy (--json) or a per-layer table of GPUs and loads (docs/eplb.md).
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/placement/eplb.hpp"

namespace moeplan::cli {

namespace {

struct Balance {
  double max = 0, mean = 0;
  double ratio() const { return mean > 0 ? max / mean : 1.0; }
};

Balance balance_of(const std::vector<double>& gpu_load) {
  Balance b;
  double total = 0;
  for (double v : gpu_load) total += v, b.max = std::max(b.max, v);
  b.mean = total / static_cast<double>(gpu_load.size());
  return b;
}

void print_table(const placement::EplbInput& in, const placement::EplbResult& r) {
  const int P = in.num_gpus, R = r.replicas, E = r.experts, spg = R / P;
  std::cout << fmt::format(
      "EPLB {} policy: {} layers, {} experts, {} slots on {} GPUs ({} per GPU), {} nodes, {} groups\n", r.policy,
      r.layers, E, R, P, spg, r.nodes_used, r.groups_used);
  std::cout << "GPU load = sum over its slots of weight / copies; before EPLB: one copy of each expert, "
               "expert e on GPU e*P/E\n";
  double sum_before = 0, sum_after = 0;
  std::vector<double> before(P), after(P);
  for (int l = 0; l < r.layers; ++l) {
    const float* w = in.weight.data() + static_cast<std::size_t>(l) * E;
    std::fill(before.begin(), before.end(), 0.0);
    std::fill(after.begin(), after.end(), 0.0);
    for (int e = 0; e < E; ++e) before[static_cast<std::size_t>(e) * P / E] += w[e];
    for (int p = 0; p < R; ++p) {
      const int e = r.phy(l, p);
      after[p / spg] += static_cast<double>(w[e]) / r.count(l, e);
    }
    const Balance b = balance_of(before), a = balance_of(after);
    sum_before += b.ratio();
    sum_after += a.ratio();
    std::cout << fmt::format("\nlayer {}: max/mean GPU load {:.3f} before, {:.3f} after (max {:.6g} -> {:.6g}, mean {:.6g})\n",
                             l, b.ratio(), a.ratio(), b.max, a.max, a.mean);
    std::cout << "  GPU  experts (slot order)        load\n";
    for (int g = 0; g < P; ++g) {
      std::string ids;
      for (int q = 0; q < spg; ++q) ids += fmt::format("{}{}", q ? " " : "", r.phy(l, g * spg + q));
      std::cout << fmt::format("  {:>3}  {:<24} {:>10.6g}\n", g, ids, after[g]);
    }
    std::string reps;
    for (int e = 0; e < E; ++e)
      if (r.count(l, e) > 1) reps += fmt::format("{}{}x{}", reps.empty() ? "" : " ", e, r.count(l, e));
    std::cout << "  replicated (expert x copies): " << (reps.empty() ? "none" : reps) << "\n";
  }
  std::cout << fmt::format("\nmean over layers of max/mean GPU load: {:.3f} before, {:.3f} after\n",
                           sum_before / r.layers, sum_after / r.layers);
}

}  // namespace

void register_eplb(CLI::App& app) {
  struct Opts {
    std::string input;
    std::string policy = "auto";
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "eplb", "DeepSeek's EPLB load balancer (exact reimplementation) on a JSON case of its arguments");
  cmd->add_option("--input", o->input,
                  "Case JSON: weight [layers][experts], num_replicas, num_groups, num_nodes, num_gpus")
      ->required();
  cmd->add_option("--policy", o->policy, "auto (EPLB's rule: hierarchical when groups % nodes == 0), hierarchical or global")
      ->check(CLI::IsMember({"auto", "hierarchical", "global"}));
  cmd->add_flag("--json", o->json, "Print {\"policy\", \"phy2log\", \"logcnt\", \"log2phy\"} as JSON");
  cmd->callback([o] {
    const placement::EplbPolicy policy = placement::parse_eplb_policy(o->policy);
    std::vector<char> bytes = io::read_file(o->input);
    placement::EplbInput in = placement::read_eplb_case(std::string_view(bytes.data(), bytes.size()), o->input);
    placement::check_eplb_input(in, policy, o->input);  // infeasible cases name the file
    placement::EplbResult r = placement::rebalance_experts(in, policy);
    if (o->json) {
      std::cout << placement::to_json(r).dump() << "\n";
      return;
    }
    print_table(in, r);
  });
}

}  // namespace moeplan::cli
