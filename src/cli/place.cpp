// moeplan place: decide where every expert (and replica) lives, fitted on one set of requests
// and scored on another (docs/placement.md).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/model_bytes.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/placement/basic.hpp"
#include "moeplan/placement/eplb.hpp"
#include "moeplan/placement/locality.hpp"
#include "moeplan/placement/migrate.hpp"
#include "moeplan/placement/replicate.hpp"
#include "moeplan/placement/traffic.hpp"
#include "moeplan/trace/select.hpp"

namespace moeplan::cli {
namespace {

using placement::Cluster;
using placement::Homes;
using placement::Placement;

const std::vector<std::string> kAlgos = {"contiguous", "round-robin", "random", "greedy", "eplb", "locality"};

struct Opts {
  TraceInputs in;
  std::vector<std::string> fit_paths, eval_paths;
  bool holdout = false;
  int nodes = 0, gpus_per_node = 0, slots_per_gpu = 0;
  std::string algo = "locality";
  std::uint64_t seed = 0;
  double max_imbalance = 1.10;
  std::string eplb_policy = "auto";
  int eplb_groups = 0;
  bool no_replicate = false;
  std::string homes_path, fit_homes_path;
  std::string previous;
  double move_cost = 0;
  std::string output, format = "moeplan";
  bool json = false;
  ModelBytesOptions bytes;
};

struct Scored {
  std::string algo;
  Placement placement;
  placement::TrafficReport eval;
  std::vector<placement::ReplicaAdded> replicas;
  std::optional<placement::MigrationReport> migration;
  double seconds = 0;
};

Placement run_algorithm(const std::string& algo, const Opts& o, const trace::TraceSet& fit, const Cluster& c,
                        const Homes& fit_homes) {
  const int E = fit.model.num_experts, L = fit.model.moe_layers();
  if (algo == "contiguous") return placement::contiguous_placement(c, E, L);
  if (algo == "round-robin") return placement::round_robin_placement(c, E, L);
  if (algo == "random") return placement::random_placement(c, E, L, o.seed);
  if (algo == "greedy") return placement::greedy_placement(placement::loads_from_trace(fit), c);
  if (algo == "eplb")
    return placement::eplb_placement(placement::loads_from_trace(fit), c, placement::parse_eplb_policy(o.eplb_policy),
                                     o.eplb_groups > 0 ? o.eplb_groups : c.nodes);
  if (algo == "locality") {
    placement::LocalityOptions lo;
    lo.max_imbalance = o.max_imbalance;
    lo.seed = o.seed;
    // Round-robin homes are independent of routing: fit the expected sends, not the accidental
    // homes of the fitting requests (which held-out requests do not share).
    lo.home_model = o.fit_homes_path.empty() && o.homes_path.empty() ? placement::HomeModel::independent
                                                                     : placement::HomeModel::exact;
    lo.progress = stderr_progress("locality: layers", o.in.progress);
    return placement::locality_placement(fit, c, fit_homes, lo);
  }
  throw Error(ErrorKind::usage, {}, "unknown --algo " + algo);
}

Scored place_one(const std::string& algo, const Opts& o, const trace::TraceSet& fit, const trace::TraceSet& eval,
                 const Cluster& c, const Homes& fit_homes, const Homes& eval_homes,
                 const std::optional<Placement>& previous, const placement::TrafficOptions& topt,
                 std::optional<double> expert_weight_bytes) {
  Scored s;
  s.algo = algo;
  const auto t0 = std::chrono::steady_clock::now();
  s.placement = run_algorithm(algo, o, fit, c, fit_homes);
  placement::adopt_layer_ids(s.placement, fit.model);
  if (!o.no_replicate) s.replicas = placement::fill_spare_slots(s.placement, fit, fit_homes);
  if (previous) {
    s.migration = placement::reduce_moves(s.placement, *previous, fit, fit_homes, o.move_cost);
    if (expert_weight_bytes)
      s.migration->weight_bytes_moved = *expert_weight_bytes * static_cast<double>(s.migration->experts_moved);
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.placement.provenance["algorithm_seconds"] = s.seconds;
  s.placement.provenance["fit_requests"] = fit.requests.size();
  s.placement.check("the " + algo + " placement");
  s.eval = placement::account_traffic(eval, s.placement, eval_homes, topt);
  return s;
}

nlohmann::json scored_json(const Scored& s, const Scored* baseline) {
  nlohmann::json j;
  j["algorithm"] = s.algo;
  j["seconds"] = s.seconds;
  j["eval"] = placement::to_json(s.eval);
  if (baseline && baseline->eval.inter_node_sends_per_token_layer() > 0)
    j["inter_node_sends_vs_contiguous"] =
        s.eval.inter_node_sends_per_token_layer() / baseline->eval.inter_node_sends_per_token_layer();
  auto reps = nlohmann::json::array();
  for (const auto& r : s.replicas)
    reps.push_back({{"layer", r.layer}, {"expert", r.expert}, {"gpu", r.gpu}, {"remote_demand", r.remote_demand}});
  j["replicas"] = std::move(reps);
  if (s.migration) j["migration"] = placement::to_json(*s.migration);
  return j;
}

// Inter-node bytes (dispatch + combine, node-level dedup) or nullopt without message sizes.
std::optional<double> inter_node_bytes(const placement::TrafficReport& r) {
  if (!r.bytes) return std::nullopt;
  return static_cast<double>(r.total.inter_node_dedup) * (r.bytes->dispatch + r.bytes->combine);
}

void print_table(const std::vector<Scored>& rows, const Scored& baseline) {
  const bool bytes = inter_node_bytes(baseline.eval).has_value();
  std::printf("%-12s %15s %9s %11s %9s %15s %8s\n", "algorithm", "inter-node", "vs contig", "inter-node", "gpu load",
              "padded", "time");
  std::printf("%-12s %15s %9s %11s %9s %15s %8s\n", "", "sends/tok-layer", "", bytes ? "GB" : "", "max/mean",
              bytes ? "GB" : "sends/tok-layer", "s");
  for (const auto& s : rows) {
    const double base = baseline.eval.inter_node_sends_per_token_layer();
    const double tl = static_cast<double>(std::max<std::uint64_t>(1, s.eval.total.token_layers));
    const auto b = inter_node_bytes(s.eval);
    const double padded = static_cast<double>(s.eval.total.padded_sends);
    std::printf("%-12s %15.4f %8.3fx %11s %9.3f %15.3f %8.3f\n", s.algo.c_str(), s.eval.inter_node_sends_per_token_layer(),
                base > 0 ? s.eval.inter_node_sends_per_token_layer() / base : 0.0,
                b ? fmt::format("{:.3f}", *b / 1e9).c_str() : "-", s.eval.gpu_load_max_over_mean(),
                bytes ? padded * (s.eval.bytes->dispatch + s.eval.bytes->combine) / 1e9 : padded / tl, s.seconds);
  }
  if (!bytes) std::printf("(bytes omitted: give --model or --hidden-size to size the messages)\n");
}

}  // namespace

void register_place(CLI::App& app) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("place", "Place experts (and replicas) on GPUs from routing traces, and score "
                                          "the placement's all-to-all traffic on held-out requests");
  cmd->add_option("inputs", o->in.paths, "Trace files or directories (any format `trace convert` reads)");
  cmd->add_option("--domain", o->in.domain, "Domain label for every request");
  cmd->add_option("--experts", o->in.experts, "Routed experts per MoE layer (default: from the file)");
  cmd->add_flag("--progress", o->in.progress, "Show progress on stderr even when it is not a terminal");
  cmd->add_option("--fit", o->fit_paths, "Fit on these traces (instead of the positional inputs)");
  cmd->add_option("--eval", o->eval_paths, "Score on these traces (default: the fitting traces, which overstates)");
  cmd->add_flag("--holdout", o->holdout,
                "Fit on the even-indexed requests of the inputs and score on the odd-indexed ones");
  cmd->add_option("--nodes", o->nodes, "Nodes (N)")->required()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--gpus-per-node", o->gpus_per_node, "GPUs per node (G)")->required()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--slots-per-gpu", o->slots_per_gpu,
                  "Expert slots per GPU (S; default ceil(E / GPUs)); slots beyond E hold replicas")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--algo", o->algo, "contiguous | round-robin | random | greedy | eplb | locality | all")
      ->check(CLI::IsMember([] {
        auto a = kAlgos;
        a.push_back("all");
        return a;
      }()));
  cmd->add_option("--seed", o->seed, "Seed of random and locality (default 0)");
  cmd->add_option("--max-imbalance", o->max_imbalance, "locality: bound on max/mean GPU load (default 1.10)")
      ->check(CLI::Range(1.0, 100.0));
  cmd->add_option("--eplb-policy", o->eplb_policy, "eplb: auto | hierarchical | global")
      ->check(CLI::IsMember({"auto", "hierarchical", "global"}));
  cmd->add_option("--eplb-groups", o->eplb_groups, "eplb: expert groups (default: the number of nodes)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_flag("--no-replicate", o->no_replicate, "Leave spare slots empty instead of filling them with replicas");
  cmd->add_option("--homes", o->homes_path, "Home GPU of each scored request (default: round-robin in trace order)");
  cmd->add_option("--fit-homes", o->fit_homes_path, "Home GPU of each fitting request (default: round-robin)");
  cmd->add_option("--previous", o->previous, "An existing placement (moeplan JSON) to stay close to");
  cmd->add_option("--move-cost", o->move_cost,
                  "With --previous: inter-node sends (on the fitting trace) one moved expert must save")
      ->check(CLI::Range(0.0, 1e18));
  cmd->add_option("-o,--output", o->output, "Write the placement here (atomically)");
  cmd->add_option("--format", o->format, "Output format: moeplan (JSON) | sglang (JSON) | trtllm (YAML)")
      ->check(CLI::IsMember({"moeplan", "sglang", "trtllm"}));
  cmd->add_flag("--json", o->json, "Print the report as JSON");
  o->bytes.add_to(cmd);
  cmd->callback([o] {
    if (o->holdout && (!o->fit_paths.empty() || !o->eval_paths.empty()))
      throw Error(ErrorKind::usage, {}, "--holdout splits the inputs; it cannot be combined with --fit/--eval");
    if (o->in.paths.empty() && o->fit_paths.empty())
      throw Error(ErrorKind::usage, {}, "give the traces as inputs or with --fit");
    if (!o->in.paths.empty() && !o->fit_paths.empty())
      throw Error(ErrorKind::usage, {}, "give the traces either as inputs or with --fit, not both");
    if (o->algo == "all" && !o->output.empty()) throw Error(ErrorKind::usage, {}, "--algo all compares; it writes no -o");
    if (o->move_cost > 0 && o->previous.empty()) throw Error(ErrorKind::usage, {}, "--move-cost needs --previous");
    if (o->holdout && !o->fit_homes_path.empty())
      throw Error(ErrorKind::usage, {}, "with --holdout, --homes covers all input requests; --fit-homes is not used");

    TraceInputs fit_in = o->in;
    if (!o->fit_paths.empty()) fit_in.paths = o->fit_paths;
    trace::TraceSet fit = fit_in.load();
    trace::TraceSet eval;
    bool scored_on_fit = false;
    Homes fit_homes, eval_homes;
    Cluster c{o->nodes, o->gpus_per_node, 0};
    c.slots_per_gpu = o->slots_per_gpu > 0 ? o->slots_per_gpu
                                           : placement::min_slots_per_gpu(fit.model.num_experts, c.nodes, c.gpus_per_node);
    placement::check_cluster(c, fit.model.num_experts);
    if (o->holdout) {
      if (fit.requests.size() < 2) throw Error(ErrorKind::usage, {}, "--holdout needs at least 2 requests");
      const Homes all = o->homes_path.empty() ? placement::round_robin_homes(fit, c)
                                              : placement::read_homes(o->homes_path, fit, c);
      for (std::size_t i = 0; i < all.size(); ++i) (i % 2 ? eval_homes : fit_homes).push_back(all[i]);
      auto [a, b] = trace::split_even_odd(fit);
      fit = std::move(a);
      eval = std::move(b);
    } else {
      if (!o->eval_paths.empty()) {
        TraceInputs eval_in = o->in;
        eval_in.paths = o->eval_paths;
        eval = eval_in.load();
      } else {
        scored_on_fit = true;
      }
      fit_homes = o->fit_homes_path.empty() ? placement::round_robin_homes(fit, c)
                                            : placement::read_homes(o->fit_homes_path, fit, c);
      const trace::TraceSet& scored = scored_on_fit ? fit : eval;
      eval_homes = o->homes_path.empty() ? placement::round_robin_homes(scored, c)
                                         : placement::read_homes(o->homes_path, scored, c);
    }
    const trace::TraceSet& scored = scored_on_fit ? fit : eval;
    if (scored.model.moe_layers() != fit.model.moe_layers() || scored.model.num_experts != fit.model.num_experts)
      throw Error(ErrorKind::bad_input, {}, fmt::format("--eval traces have {} MoE layers x {} experts, --fit traces {} x {}",
                                                        scored.model.moe_layers(), scored.model.num_experts,
                                                        fit.model.moe_layers(), fit.model.num_experts));
    std::optional<Placement> previous;
    if (!o->previous.empty()) {
      previous = placement::read_placement(o->previous);
      if (previous->cluster != c || previous->layers != fit.model.moe_layers() || previous->num_experts != fit.model.num_experts)
        throw Error(ErrorKind::bad_input, Location{o->previous, "", "cluster"},
                    fmt::format("placement is {} nodes x {} GPUs x {} slots, {} layers x {} experts; this run is {} x {} x {}, "
                                "{} x {}", previous->cluster.nodes, previous->cluster.gpus_per_node,
                                previous->cluster.slots_per_gpu, previous->layers, previous->num_experts, c.nodes,
                                c.gpus_per_node, c.slots_per_gpu, fit.model.moe_layers(), fit.model.num_experts));
    }

    placement::TrafficOptions topt;
    const ModelBytesOptions::Resolved model_bytes = o->bytes.resolve();
    topt.bytes = model_bytes.message;
    const std::vector<std::string> algos = o->algo == "all" ? kAlgos : std::vector<std::string>{o->algo};
    std::vector<Scored> rows;
    std::optional<Scored> baseline;
    for (const auto& a : algos) {
      if (!o->json && algos.size() > 1) std::fprintf(stderr, "placing: %s\n", a.c_str());
      rows.push_back(place_one(a, *o, fit, scored, c, fit_homes, eval_homes, previous, topt, model_bytes.expert_weight));
      if (a == "contiguous") baseline = rows.back();
    }
    if (!baseline)
      baseline = place_one("contiguous", *o, fit, scored, c, fit_homes, eval_homes, std::nullopt, topt, std::nullopt);

    if (!o->output.empty()) {
      const Placement& p = rows.front().placement;
      if (o->format == "moeplan") {
        placement::write_placement(o->output, p);
      } else if (o->format == "sglang") {
        write_json_file(o->output, placement::to_sglang(p));
      } else {
        const std::string text = placement::to_trtllm_yaml(p);
        io::write_atomic(o->output, [&](std::ostream& out) { out << text; });
      }
    }

    const std::string scored_what =
        scored_on_fit ? "the fitting requests (no held-out set: this overstates the gain)"
                      : (o->holdout ? "the odd-indexed (held-out) requests" : "the --eval traces");
    if (o->json) {
      nlohmann::json j;
      j["cluster"] = {{"nodes", c.nodes}, {"gpus_per_node", c.gpus_per_node}, {"slots_per_gpu", c.slots_per_gpu}};
      j["experts"] = fit.model.num_experts;
      j["layers"] = fit.model.moe_layers();
      j["fit"] = {{"requests", fit.requests.size()}, {"tokens", fit.num_tokens()}};
      j["eval"] = {{"requests", scored.requests.size()}, {"tokens", scored.num_tokens()}, {"scored_on", scored_what}};
      auto results = nlohmann::json::array();
      for (const auto& s : rows) results.push_back(scored_json(s, &*baseline));
      j["results"] = std::move(results);
      j["baseline_contiguous"] = scored_json(*baseline, nullptr);
      if (!o->output.empty()) j["output"] = o->output;
      print_json(j);
      return;
    }
    std::printf("%d nodes x %d GPUs x %d slots (%d slots/layer) for %d experts x %d MoE layers, top-%d\n", c.nodes,
                c.gpus_per_node, c.slots_per_gpu, c.slots(), fit.model.num_experts, fit.model.moe_layers(),
                fit.model.top_k);
    std::printf("fitted on %zu requests (%llu tokens); scored on %s: %zu requests (%llu tokens)\n\n",
                fit.requests.size(), static_cast<unsigned long long>(fit.num_tokens()), scored_what.c_str(),
                scored.requests.size(), static_cast<unsigned long long>(scored.num_tokens()));
    print_table(rows, *baseline);
    for (const auto& s : rows) {
      if (!s.replicas.empty()) {
        std::uint64_t demand = 0;
        for (const auto& r : s.replicas) demand += r.remote_demand;
        std::printf("%s: %zu replicas in spare slots, saving %llu per-expert inter-node sends on the fitting trace\n",
                    s.algo.c_str(), s.replicas.size(), static_cast<unsigned long long>(demand));
      }
      if (s.migration)
        std::printf("%s: %lld experts moved vs --previous (%lld kept by the move cost; inter-node sends on the fitting trace %+lld)%s\n",
                    s.algo.c_str(), static_cast<long long>(s.migration->experts_moved),
                    static_cast<long long>(s.migration->moves_undone), static_cast<long long>(s.migration->sends_added),
                    s.migration->weight_bytes_moved
                        ? fmt::format(", {:.2f} GB of expert weights", *s.migration->weight_bytes_moved / 1e9).c_str()
                        : "");
    }
    std::printf("\nbaseline: contiguous, %.4f inter-node sends per token-layer (node-level dedup)\n",
                baseline->eval.inter_node_sends_per_token_layer());
    if (!o->output.empty()) std::printf("wrote %s (%s)\n", o->output.c_str(), o->format.c_str());
  });
}

}  // namespace moeplan::cli
