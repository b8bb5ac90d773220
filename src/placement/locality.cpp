// locality: the per-layer driver (starts, restarts, balance attempts) and the public API.
#include "moeplan/placement/locality.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <exception>

#include "moeplan/io/error.hpp"
#include "placement/locality_internal.hpp"

namespace moeplan::placement {

using namespace locality_detail;

namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

struct LayerOut {
  std::vector<std::int32_t> row;
  std::int64_t obj_contiguous = 0, obj_initial = 0, obj_final = 0;  // exact sends, fit trace
  int passes = 0;
  double gpu_imbalance = 0;
  double gpu_lower_bound = 0;  // max/mean GPU load no placement of this layer can beat
  bool bound_met = false;
  int attempts = 0;
};

struct Candidate {
  std::vector<int> part;
  RefineStats st;
  bool better_than(const Candidate& o) const {
    if (st.balanced != o.st.balanced) return st.balanced;
    return st.objective < o.st.objective;
  }
};

// A lower bound on the busiest GPU: the hottest expert, plus (when every slot is used) the
// slots_per_gpu - 1 lightest others beside it; never below the mean.
std::int64_t gpu_load_lower_bound(const Hypergraph& g, const Cluster& c) {
  std::vector<std::int64_t> w(g.load.begin(), g.load.end());
  std::sort(w.begin(), w.end());
  std::int64_t total = 0;
  for (auto x : w) total += x;
  std::int64_t lb = w.empty() ? 0 : w.back();
  if (g.vertices == c.slots())
    for (int i = 0; i + 1 < c.slots_per_gpu && i + 1 < g.vertices; ++i) lb += w[i];
  return std::max(lb, (total + c.gpus() - 1) / c.gpus());
}

LayerOut run_layer(const trace::TraceSet& set, int layer, std::span<const std::uint8_t> home,
                   bool independent, const Cluster& c, const LocalityOptions& o,
                   std::uint64_t layer_seed) {
  const std::size_t tokens = home.size();
  const std::size_t stride =
      o.max_tokens > 0 && tokens > o.max_tokens ? (tokens + o.max_tokens - 1) / o.max_tokens : 1;
  const auto g = build_layer_hypergraph(set, layer, home, c.nodes, independent, stride);
  LayerOut out;
  const int n = g.vertices;
  std::int64_t total = 0;
  for (auto w : g.load) total += w;
  std::vector<int> contiguous(static_cast<std::size_t>(n));
  for (int v = 0; v < n; ++v) contiguous[v] = c.node_of_slot(v);
  out.obj_contiguous = exact_sends(set, layer, home, contiguous, c.nodes);
  const double mean_gpu = static_cast<double>(total) / c.gpus();
  const double lb = static_cast<double>(gpu_load_lower_bound(g, c));
  out.gpu_lower_bound = total > 0 ? lb / mean_gpu : 1.0;
  const bool achievable = out.gpu_lower_bound <= o.max_imbalance;

  double slack = o.max_imbalance;
  bool have = false;
  for (int attempt = 0; attempt < (achievable ? 4 : 1); ++attempt) {
    if (attempt == 3) slack = 1.0;  // last try: the tightest node bound
    ++out.attempts;
    Limits lim;
    lim.node_capacity = c.gpus_per_node * c.slots_per_gpu;
    lim.node_load_bound = static_cast<std::int64_t>(slack * static_cast<double>(total) / c.nodes);
    if (!achievable)  // the hottest GPU at its floor, the node's other GPUs within the bound
      lim.node_load_bound = std::max(
          lim.node_load_bound,
          static_cast<std::int64_t>(lb + (c.gpus_per_node - 1) * o.max_imbalance * mean_gpu));
    std::uint64_t rng = mix(layer_seed + 1000003ull * attempt);

    std::vector<std::vector<int>> starts;
    starts.push_back(contiguous);
    if (o.use_metis_init) {
      rng = mix(rng);
      auto p = metis_partition(g, slack, static_cast<int>(rng & 0x7fffffff));
      if (!p.empty()) starts.push_back(std::move(p));
    }
    Candidate best;
    bool first = true;
    std::vector<int> initial;
    for (std::size_t i = 0; i < starts.size(); ++i) {
      Candidate cand{starts[i], {}};
      if (i + 1 == starts.size()) {  // the initial partition: last start, repaired, unrefined
        initial = cand.part;
        refine(g, initial, lim, 0);
      }
      cand.st = refine(g, cand.part, lim, o.fm_passes);
      if (first || cand.better_than(best)) best = std::move(cand), first = false;
    }
    // Restarts explore on the first attempt; later attempts only look for balance.
    const int restarts = attempt == 0 ? o.restarts : std::min(o.restarts, 2);
    for (int r = 0; r < restarts && c.nodes > 1; ++r) {
      Candidate cand{best.part, {}};
      const int swaps = std::max(2, n / 8);
      for (int s = 0; s < swaps; ++s) {
        rng = mix(rng);
        const int u = static_cast<int>(rng % n);
        const int v = static_cast<int>((rng >> 32) % n);
        std::swap(cand.part[u], cand.part[v]);
      }
      cand.st = refine(g, cand.part, lim, o.fm_passes);
      if (cand.better_than(best)) best = std::move(cand);
    }
    auto row = map_to_gpus(g, best.part, c);
    const double imb = gpu_imbalance(g, row, c);
    const bool met = imb <= o.max_imbalance + 1e-12;
    // Keep the first attempt meeting the bound; failing that, the most balanced one.
    if (!have || (met && !out.bound_met) ||
        (!met && !out.bound_met && imb < out.gpu_imbalance)) {
      have = true;
      out.row = std::move(row);
      out.obj_initial = exact_sends(set, layer, home, initial, c.nodes);
      out.obj_final = exact_sends(set, layer, home, best.part, c.nodes);
      out.passes = best.st.passes;
      out.gpu_imbalance = imb;
      out.bound_met = met;
    }
    if (out.bound_met) break;
    slack = 1.0 + (slack - 1.0) * 0.5;
  }
  if (!out.bound_met && achievable) {  // trade traffic for balance on the most balanced try
    rebalance_gpus(g, out.row, c, o.max_imbalance);
    std::vector<int> part(static_cast<std::size_t>(n), 0);
    for (int s = 0; s < c.slots(); ++s)
      if (out.row[s] >= 0) part[out.row[s]] = c.node_of_slot(s);
    out.obj_final = exact_sends(set, layer, home, part, c.nodes);
    out.gpu_imbalance = gpu_imbalance(g, out.row, c);
    out.bound_met = out.gpu_imbalance <= o.max_imbalance + 1e-12;
  }
  return out;
}

std::vector<std::uint8_t> token_home_nodes(const trace::TraceSet& set, const Cluster& c,
                                           const Homes& homes) {
  if (homes.size() != set.requests.size())
    throw Error(ErrorKind::bad_input, {},
                fmt::format("homes: {} entries for {} requests", homes.size(),
                            set.requests.size()));
  std::vector<std::uint8_t> node(static_cast<std::size_t>(set.num_tokens()), 0);
  for (std::size_t r = 0; r < homes.size(); ++r) {
    const auto& req = set.requests[r];
    if (homes[r] < 0 || homes[r] >= c.gpus())
      throw Error(ErrorKind::bad_input, {{}, fmt::format("request {}", req.id), "home"},
                  fmt::format("home GPU {} is outside 0..{}", homes[r], c.gpus() - 1));
    std::fill_n(node.begin() + static_cast<std::ptrdiff_t>(req.token_offset), req.tokens(),
                static_cast<std::uint8_t>(c.node_of_gpu(homes[r])));
  }
  return node;
}

void check_inputs(const trace::TraceSet& fit, const Cluster& c, const LocalityOptions& o) {
  if (c.nodes < 1 || c.gpus_per_node < 1 || c.slots_per_gpu < 1)
    throw Error(ErrorKind::usage, {}, "locality: nodes, GPUs per node and slots must be >= 1");
  if (c.nodes > 255)
    throw Error(ErrorKind::usage, {}, fmt::format("locality: at most 255 nodes, got {}", c.nodes));
  if (!(o.max_imbalance >= 1.0))
    throw Error(ErrorKind::usage, {{}, {}, "--max-imbalance"},
                fmt::format("must be >= 1 (max/mean GPU load), got {}", o.max_imbalance));
  if (o.fm_passes < 0 || o.restarts < 0)
    throw Error(ErrorKind::usage, {}, "locality: FM passes and restarts must be >= 0");
  if (c.slots() < fit.model.num_experts)
    throw Error(ErrorKind::infeasible, {},
                fmt::format("{} slots ({} nodes x {} GPUs x {} slots) cannot hold {} experts",
                            c.slots(), c.nodes, c.gpus_per_node, c.slots_per_gpu,
                            fit.model.num_experts));
}

}  // namespace

std::uint64_t locality_layer_objective(const trace::TraceSet& set, int layer,
                                       std::span<const int> expert_node, const Cluster& c,
                                       const Homes& homes) {
  const auto home = token_home_nodes(set, c, homes);
  return static_cast<std::uint64_t>(exact_sends(set, layer, home, expert_node, c.nodes));
}

Placement locality_placement(const trace::TraceSet& fit, const Cluster& c, const Homes& homes,
                             const LocalityOptions& o) {
  check_inputs(fit, c, o);
  const auto home = token_home_nodes(fit, c, homes);
  const bool independent = o.home_model == HomeModel::independent;
  const int layers = fit.model.moe_layers();
  std::vector<LayerOut> out(static_cast<std::size_t>(layers));
  std::exception_ptr failure;
  std::size_t done = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (int l = 0; l < layers; ++l) {
    try {
      out[l] = run_layer(fit, l, home, independent, c, o,
                         mix(o.seed ^ mix(static_cast<std::uint64_t>(l))));
    } catch (...) {
#pragma omp critical(moeplan_locality_failure)
      if (!failure) failure = std::current_exception();
    }
#pragma omp critical(moeplan_locality_progress)
    {
      ++done;
      if (o.progress) o.progress(done, static_cast<std::size_t>(layers));
    }
  }
  if (failure) std::rethrow_exception(failure);

  Placement p;
  p.cluster = c;
  p.num_experts = fit.model.num_experts;
  p.layers = layers;
  p.algorithm = "locality";
  p.slot_expert.reserve(static_cast<std::size_t>(layers) * c.slots());
  nlohmann::json per_layer = nlohmann::json::array();
  std::int64_t contig = 0, initial = 0, final_obj = 0;
  double worst = 0;
  int unmet = 0;
  for (int l = 0; l < layers; ++l) {
    const auto& r = out[l];
    p.slot_expert.insert(p.slot_expert.end(), r.row.begin(), r.row.end());
    contig += r.obj_contiguous, initial += r.obj_initial, final_obj += r.obj_final;
    worst = std::max(worst, r.gpu_imbalance);
    unmet += r.bound_met ? 0 : 1;
    per_layer.push_back({{"layer", l},
                         {"objective_contiguous", r.obj_contiguous},
                         {"objective_initial", r.obj_initial},
                         {"objective_final", r.obj_final},
                         {"fm_passes", r.passes},
                         {"balance_attempts", r.attempts},
                         {"gpu_load_max_over_mean", r.gpu_imbalance},
                         {"gpu_load_lower_bound_over_mean", r.gpu_lower_bound},
                         {"balance_bound_met", r.bound_met}});
  }
  const double token_layers = static_cast<double>(fit.num_tokens()) * layers;
  p.provenance = {
      {"algorithm", "locality"},
      {"objective", "inter-node sends with node-level dedup on the fit trace"},
      {"options",
       {{"max_imbalance", o.max_imbalance},
        {"seed", o.seed},
        {"fm_passes", o.fm_passes},
        {"restarts", o.restarts},
        {"max_tokens", o.max_tokens},
        {"use_metis_init", o.use_metis_init},
        {"home_model", independent ? "independent" : "exact"}}},
      {"fit_requests", fit.requests.size()},
      {"fit_tokens", fit.num_tokens()},
      {"objective_contiguous", contig},
      {"objective_initial", initial},
      {"objective_final", final_obj},
      {"inter_node_sends_per_token_layer",
       token_layers > 0 ? static_cast<double>(final_obj) / token_layers : 0.0},
      {"gpu_load_max_over_mean_worst_layer", worst},
      {"layers_over_balance_bound", unmet},
      {"per_layer", std::move(per_layer)}};
  return p;
}

}  // namespace moeplan::placement
