// Migration: free relabelling, then move-cost-driven undo swaps (see migrate.hpp).
#include "moeplan/placement/migrate.hpp"

#include <algorithm>
#include <vector>

#include "moeplan/io/error.hpp"

namespace moeplan::placement {
namespace {

// Experts of GPU g in layer l (with -1 for empty slots), in slot order.
std::vector<int> gpu_experts(const Placement& p, int l, int g) {
  auto row = p.layer(l);
  const int S = p.cluster.slots_per_gpu;
  return std::vector<int>(row.begin() + g * S, row.begin() + (g + 1) * S);
}

int overlap(const std::vector<int>& a, const std::vector<int>& b) {
  int n = 0;
  for (int e : a)
    if (e >= 0 && std::find(b.begin(), b.end(), e) != b.end()) ++n;
  return n;
}

// Within each node, gives each new GPU's contents to the previous GPU they overlap most.
void relabel_gpus(Placement& p, const Placement& prev, int l) {
  const Cluster& c = p.cluster;
  const int S = c.slots_per_gpu, Gn = c.gpus_per_node;
  auto row = p.layer(l);
  for (int n = 0; n < c.nodes; ++n) {
    const int g0 = n * Gn;
    std::vector<std::vector<int>> now(Gn), before(Gn);
    for (int i = 0; i < Gn; ++i) now[i] = gpu_experts(p, l, g0 + i), before[i] = gpu_experts(prev, l, g0 + i);
    std::vector<int> target(Gn, -1);
    std::vector<char> taken(Gn, 0);
    for (int round = 0; round < Gn; ++round) {  // greedy max-overlap matching; ties: lower indices
      int ba = -1, bb = -1, best = -1;
      for (int a = 0; a < Gn; ++a) {
        if (target[a] >= 0) continue;
        for (int b = 0; b < Gn; ++b)
          if (!taken[b] && overlap(now[a], before[b]) > best) best = overlap(now[a], before[b]), ba = a, bb = b;
      }
      target[ba] = bb;
      taken[bb] = 1;
    }
    for (int a = 0; a < Gn; ++a) std::copy(now[a].begin(), now[a].end(), row.begin() + (g0 + target[a]) * S);
  }
}

// Inside each GPU, keeps an expert in the slot it had before when it stays on that GPU.
void relabel_slots(Placement& p, const Placement& prev, int l) {
  const int S = p.cluster.slots_per_gpu;
  auto row = p.layer(l);
  for (int g = 0; g < p.cluster.gpus(); ++g) {
    std::vector<int> now = gpu_experts(p, l, g), before = gpu_experts(prev, l, g), out(S, -2);
    std::vector<char> used(S, 0);
    for (int i = 0; i < S; ++i) {
      if (before[i] < 0) continue;
      for (int j = 0; j < S; ++j)
        if (!used[j] && now[j] == before[i]) {
          out[i] = now[j], used[j] = 1;
          break;
        }
    }
    int j = 0;
    for (int i = 0; i < S; ++i) {
      if (out[i] != -2) continue;
      while (used[j]) ++j;
      out[i] = now[j], used[j] = 1;
    }
    std::copy(out.begin(), out.end(), row.begin() + g * S);
  }
}

// Exact per-layer inter-node send deltas (node-level dedup) for swapping two experts'
// nodes, over the fitting trace's tokens. Experts with replicas are never swapped.
class LayerObjective {
 public:
  LayerObjective(const trace::TraceSet& set, const Cluster& c, const Homes& homes, int l,
                 const std::vector<int>& node_of_expert)
      : c_(c), node_(node_of_expert) {
    const int E = set.model.num_experts, k = set.model.top_k, L = set.model.moe_layers();
    const std::size_t T = set.num_tokens();
    home_.resize(T);
    for (std::size_t r = 0; r < set.requests.size(); ++r)
      for (std::uint64_t t = 0; t < set.requests[r].tokens(); ++t)
        home_[set.requests[r].token_offset + t] = static_cast<std::uint8_t>(c.node_of_gpu(homes[r]));
    start_.assign(E + 1, 0);
    set.ids.visit([&](auto ids) {
      for (std::size_t t = 0; t < T; ++t)
        for (int j = 0; j < k; ++j) ++start_[ids[(t * L + l) * k + j] + 1];
      for (int e = 0; e < E; ++e) start_[e + 1] += start_[e];
      tok_.resize(start_[E]);
      std::vector<std::size_t> fill(start_.begin(), start_.end() - 1);
      for (std::size_t t = 0; t < T; ++t)
        for (int j = 0; j < k; ++j) tok_[fill[ids[(t * L + l) * k + j]]++] = static_cast<std::uint32_t>(t);
    });
    cnt_.assign(T * c.nodes, 0);
    for (int e = 0; e < E; ++e)
      for (std::size_t i = start_[e]; i < start_[e + 1]; ++i) ++cnt_[std::size_t{tok_[i]} * c.nodes + node_[e]];
    stamp_.assign(T, 0);
  }

  // Change in inter-node sends if x moves to node nx and y to node ny (their nodes swap).
  std::int64_t swap_delta(int x, int y) {
    const int a = node_[x], b = node_[y];
    if (a == b) return 0;
    ++epoch_;
    std::int64_t d = 0;
    auto visit = [&](int e, int from, int to, int other, int other_from, int other_to) {
      for (std::size_t i = start_[e]; i < start_[e + 1]; ++i) {
        const std::uint32_t t = tok_[i];
        if (stamp_[t] == epoch_) continue;  // token already handled with both experts
        stamp_[t] = epoch_;
        const bool has_other = std::binary_search(tok_.begin() + start_[other], tok_.begin() + start_[other + 1], t);
        std::uint16_t* cn = cnt_.data() + std::size_t{t} * c_.nodes;
        const int h = home_[t];
        auto spans = [&](int n, int v) { return v > 0 && n != h; };
        int before = spans(from, cn[from]) + spans(to, cn[to]);
        int cf = cn[from] - 1, ct = cn[to] + 1;
        if (has_other) cf += 1 * (other_to == from), ct -= 1 * (other_from == to);
        (void)other_from;
        const int after = spans(from, cf) + spans(to, ct);
        d += after - before;
      }
    };
    // x: a -> b; y: b -> a. Tokens with both keep their counts on a and b.
    visit(x, a, b, y, b, a);
    visit(y, b, a, x, a, b);
    return d;
  }

  void apply_swap(int x, int y) {
    const int a = node_[x], b = node_[y];
    for (std::size_t i = start_[x]; i < start_[x + 1]; ++i) {
      std::uint16_t* cn = cnt_.data() + std::size_t{tok_[i]} * c_.nodes;
      --cn[a], ++cn[b];
    }
    for (std::size_t i = start_[y]; i < start_[y + 1]; ++i) {
      std::uint16_t* cn = cnt_.data() + std::size_t{tok_[i]} * c_.nodes;
      --cn[b], ++cn[a];
    }
    std::swap(node_[x], node_[y]);
  }

 private:
  const Cluster& c_;
  std::vector<int> node_;
  std::vector<std::uint8_t> home_;
  std::vector<std::size_t> start_;
  std::vector<std::uint32_t> tok_;   // tokens of each expert, ascending
  std::vector<std::uint16_t> cnt_;   // [token][node]: its experts on that node
  std::vector<std::uint32_t> stamp_;
  std::uint32_t epoch_ = 0;
};

}  // namespace

std::vector<std::int64_t> moved_experts(const Placement& now, const Placement& before) {
  std::vector<std::int64_t> out(now.layers, 0);
  for (int l = 0; l < now.layers; ++l)
    for (int g = 0; g < now.cluster.gpus(); ++g) {
      const auto a = gpu_experts(now, l, g), b = gpu_experts(before, l, g);
      for (int e : a)
        if (e >= 0 && std::find(b.begin(), b.end(), e) == b.end()) ++out[l];
    }
  return out;
}

MigrationReport reduce_moves(Placement& p, const Placement& previous, const trace::TraceSet& fit, const Homes& homes,
                             double move_cost) {
  if (previous.cluster != p.cluster || previous.layers != p.layers || previous.num_experts != p.num_experts)
    throw Error(ErrorKind::bad_input, {}, "the previous placement has another cluster, layer count or expert count");
  if (fit.model.num_experts != p.num_experts || fit.model.moe_layers() != p.layers)
    throw Error(ErrorKind::internal, {}, "reduce_moves: the fitting trace does not match the placement");
  if (p.cluster.nodes > 255) throw Error(ErrorKind::usage, {}, "--move-cost supports at most 255 nodes");
  MigrationReport rep;
  rep.move_cost = move_cost;
  for (auto m : moved_experts(p, previous)) rep.moved_before += m;
  const Cluster& c = p.cluster;
  const int E = p.num_experts, S = c.slots_per_gpu;
  const auto loads = [&] {  // per-layer expert loads of the fitting trace
    std::vector<double> w(static_cast<std::size_t>(p.layers) * E, 0.0);
    const std::size_t k = fit.model.top_k, L = p.layers;
    fit.ids.visit([&](auto ids) {
      for (std::size_t i = 0; i < ids.size(); ++i) w[((i / k) % L) * E + ids[i]] += 1.0;
    });
    return w;
  }();
  for (int l = 0; l < p.layers; ++l) {
    relabel_gpus(p, previous, l);
    relabel_slots(p, previous, l);
    if (move_cost <= 0) continue;
    auto row = p.layer(l);
    std::vector<int> count(E, 0), slot_of(E, -1), node_of(E, 0), prev_gpu(E, -1);
    for (int s = 0; s < c.slots(); ++s)
      if (row[s] >= 0) ++count[row[s]], slot_of[row[s]] = s, node_of[row[s]] = c.node_of_slot(s);
    auto prow = previous.layer(l);
    std::vector<int> prev_count(E, 0);
    for (int s = 0; s < c.slots(); ++s)
      if (prow[s] >= 0) ++prev_count[prow[s]], prev_gpu[prow[s]] = c.gpu_of_slot(s);
    std::vector<double> gpu_load(c.gpus(), 0.0);
    const double* w = loads.data() + static_cast<std::size_t>(l) * E;
    for (int s = 0; s < c.slots(); ++s)
      if (row[s] >= 0) gpu_load[c.gpu_of_slot(s)] += w[row[s]] / count[row[s]];
    LayerObjective obj(fit, c, homes, l, node_of);
    auto single = [&](int e) { return e >= 0 && count[e] == 1 && prev_count[e] == 1; };
    // x moved (now on GPU a, before on GPU b): swap it with an expert y on b that was not on b
    // before, when the saved moves are worth more than the sends the swap adds.
    for (int x = 0; x < E; ++x) {
      if (!single(x)) continue;
      const int a = c.gpu_of_slot(slot_of[x]), b = prev_gpu[x];
      if (a == b) continue;
      int best_y = -1;
      double best_gain = 0;
      std::int64_t best_delta = 0;
      for (int s = b * S; s < (b + 1) * S; ++s) {
        const int y = row[s];
        if (!single(y) || prev_gpu[y] == b) continue;
        const double la = gpu_load[a] - w[x] + w[y], lb = gpu_load[b] - w[y] + w[x];
        const double cur_max = *std::max_element(gpu_load.begin(), gpu_load.end());
        if (std::max(la, lb) > cur_max) continue;  // never raise the busiest GPU
        const int saved = 1 + (prev_gpu[y] == a);
        const std::int64_t delta = obj.swap_delta(x, y);
        const double gain = saved * move_cost - static_cast<double>(delta);
        if (gain > best_gain) best_gain = gain, best_y = y, best_delta = delta;
      }
      if (best_y < 0) continue;
      const int y = best_y, sx = slot_of[x], sy = slot_of[y];
      obj.apply_swap(x, y);
      std::swap(row[sx], row[sy]);
      slot_of[x] = sy, slot_of[y] = sx;
      gpu_load[a] += w[y] - w[x];
      gpu_load[b] += w[x] - w[y];
      rep.moves_undone += 1 + (prev_gpu[y] == a);
      rep.sends_added += best_delta;
    }
    relabel_slots(p, previous, l);
  }
  rep.moved_per_layer = moved_experts(p, previous);
  for (auto m : rep.moved_per_layer) rep.experts_moved += m;
  return rep;
}

nlohmann::json to_json(const MigrationReport& r) {
  nlohmann::json j = {{"experts_moved", r.experts_moved},
          {"experts_moved_before_undo", r.moved_before},
          {"moves_undone", r.moves_undone},
          {"inter_node_sends_added", r.sends_added},
          {"move_cost", r.move_cost},
          {"moved_per_layer", r.moved_per_layer}};
  if (r.weight_bytes_moved) j["weight_bytes_moved"] = *r.weight_bytes_moved;
  return j;
}

}  // namespace moeplan::placement
