// locality: Fiduccia-Mattheyses refinement of a node partition on the exact objective
// (sum over hyperedges of the away-token counts of the nodes they occupy), with k-way gain
// tables updated incrementally, vertex moves where capacity allows, move pairs (swaps) where
// it does not, a node load bound, and rollback to the best prefix of each pass.
#include <algorithm>
#include <limits>

#include "placement/locality_internal.hpp"

namespace moeplan::placement::locality_detail {

namespace {

class State {
 public:
  State(const Hypergraph& g, std::vector<int>& part)
      : g_(g), n_(g.nodes), part_(part),
        phi_(static_cast<std::size_t>(g.edges()) * n_, 0),
        leave_(g.vertices, 0), enter_(static_cast<std::size_t>(g.vertices) * n_, 0),
        load_(n_, 0), count_(n_, 0) {
    for (int h = 0; h < g.edges(); ++h)
      for (auto v : g.edge(h)) ++phi_[idx(h, part_[v])];
    for (std::size_t i = 0; i < phi_.size(); ++i)
      if (phi_[i] > 0) obj_ += g.away[i];
    for (int v = 0; v < g.vertices; ++v) {
      load_[part_[v]] += g.load[v];
      ++count_[part_[v]];
      recompute(v);
    }
  }

  std::int64_t gain(int v, int b) const { return leave_[v] - enter_[idx(v, b)]; }
  std::int64_t objective() const { return obj_; }
  std::int64_t load(int p) const { return load_[p]; }
  int count(int p) const { return count_[p]; }
  int part(int v) const { return part_[v]; }
  int nodes() const { return n_; }

  void move(int v, int b) {
    const int a = part_[v];
    std::int64_t leave = 0;  // v's own gains, rebuilt in the same sweep
    std::int64_t* enter = enter_.data() + idx(v, 0);
    std::fill(enter, enter + n_, 0);
    for (auto h : g_.incident(v)) {
      const std::size_t base = static_cast<std::size_t>(h) * n_;
      const std::uint16_t pa = phi_[base + a], pb = phi_[base + b];
      const std::int64_t ca = g_.away[base + a], cb = g_.away[base + b];
      const auto pins = g_.edge(static_cast<int>(h));
      if (pa == 1) {  // node a no longer touched by h
        obj_ -= ca;
        for (auto u : pins)
          if (u != v) enter_[idx(u, a)] += ca;
      } else if (pa == 2) {  // the other pin left on a now leaves it alone
        for (auto u : pins)
          if (u != v && part_[u] == a) { leave_[u] += ca; break; }
      }
      if (pb == 0) {  // node b newly touched
        obj_ += cb;
        for (auto u : pins)
          if (u != v) enter_[idx(u, b)] -= cb;
      } else if (pb == 1) {  // the pin alone on b no longer frees it by leaving
        for (auto u : pins)
          if (part_[u] == b) { leave_[u] -= cb; break; }
      }
      --phi_[base + a];
      ++phi_[base + b];
      if (pb == 0) leave += cb;  // v is now alone on b
      for (int p = 0; p < n_; ++p)
        if (phi_[base + p] == 0) enter[p] += g_.away[base + p];
    }
    leave_[v] = leave;
    part_[v] = b;
    load_[a] -= g_.load[v];
    load_[b] += g_.load[v];
    --count_[a];
    ++count_[b];
  }

 private:
  std::size_t idx(std::size_t i, int p) const { return i * n_ + static_cast<std::size_t>(p); }

  void recompute(int v) {
    const int a = part_[v];
    std::int64_t leave = 0;
    std::int64_t* enter = enter_.data() + idx(v, 0);
    std::fill(enter, enter + n_, 0);
    for (auto h : g_.incident(v)) {
      const std::size_t base = static_cast<std::size_t>(h) * n_;
      if (phi_[base + a] == 1) leave += g_.away[base + a];
      for (int p = 0; p < n_; ++p)
        if (phi_[base + p] == 0) enter[p] += g_.away[base + p];
    }
    leave_[v] = leave;
  }

  const Hypergraph& g_;
  int n_;
  std::vector<int>& part_;
  std::vector<std::uint16_t> phi_;
  std::vector<std::int64_t> leave_, enter_;
  std::vector<std::int64_t> load_;
  std::vector<int> count_;
  std::int64_t obj_ = 0;
};

std::int64_t max_load(const State& s) {
  std::int64_t m = 0;
  for (int p = 0; p < s.nodes(); ++p) m = std::max(m, s.load(p));
  return m;
}

// Moves experts out of over-full nodes (best gain first, preferring moves within the bound).
void repair_counts(const Hypergraph& g, State& s, const Limits& lim) {
  for (;;) {
    int bv = -1, bb = -1;
    bool b_fits = false;
    std::int64_t b_gain = 0;
    for (int v = 0; v < g.vertices; ++v) {
      if (s.count(s.part(v)) <= lim.node_capacity) continue;
      for (int b = 0; b < s.nodes(); ++b) {
        if (s.count(b) >= lim.node_capacity) continue;
        const bool fits = s.load(b) + g.load[v] <= lim.node_load_bound;
        const std::int64_t gn = s.gain(v, b);
        if (bv < 0 || (fits && !b_fits) || (fits == b_fits && gn > b_gain)) {
          bv = v, bb = b, b_fits = fits, b_gain = gn;
        }
      }
    }
    if (bv < 0) return;
    s.move(bv, bb);
  }
}

// Lowers the heaviest node below the bound by moves and swaps while that strictly lowers the
// larger of the two loads involved; among options that reach the bound, the best gain wins.
void repair_balance(const Hypergraph& g, State& s, const Limits& lim) {
  for (int iter = 0; iter < 4 * g.vertices + 16; ++iter) {
    int a = 0;
    for (int p = 1; p < s.nodes(); ++p)
      if (s.load(p) > s.load(a)) a = p;
    const std::int64_t la = s.load(a);
    if (la <= lim.node_load_bound) return;
    int bu = -1, bv = -1, bb = -1;
    bool b_fits = false;
    std::int64_t b_max = 0, b_score = 0;
    auto consider = [&](int u, int v, int b, std::int64_t new_a, std::int64_t new_b,
                        std::int64_t score) {
      const std::int64_t m = std::max(new_a, new_b);
      if (m >= la) return;
      const bool fits = m <= lim.node_load_bound;
      bool better;
      if (bu < 0) better = true;
      else if (fits != b_fits) better = fits;
      else if (fits) better = score > b_score;
      else better = m < b_max || (m == b_max && score > b_score);
      if (better) bu = u, bv = v, bb = b, b_fits = fits, b_max = m, b_score = score;
    };
    for (int u = 0; u < g.vertices; ++u) {
      if (s.part(u) != a) continue;
      for (int b = 0; b < s.nodes(); ++b) {
        if (b == a) continue;
        if (s.count(b) < lim.node_capacity)
          consider(u, -1, b, la - g.load[u], s.load(b) + g.load[u], s.gain(u, b));
      }
      for (int v = 0; v < g.vertices; ++v) {
        const int b = s.part(v);
        if (b == a || g.load[v] >= g.load[u]) continue;
        const std::int64_t d = g.load[u] - g.load[v];
        consider(u, v, b, la - d, s.load(b) + d, s.gain(u, b) + s.gain(v, a));
      }
    }
    if (bu < 0) return;
    s.move(bu, bb);
    if (bv >= 0) s.move(bv, a);
  }
}

// One FM pass; returns the improvement kept (>= 0).
std::int64_t fm_pass(const Hypergraph& g, State& s, const Limits& lim, std::int64_t bound) {
  const int n = g.vertices;
  std::vector<char> locked(static_cast<std::size_t>(n), 0);
  struct Move { int v, from; };
  std::vector<Move> log;
  std::int64_t cum = 0, best = 0;
  std::size_t best_len = 0;
  int since_best = 0;
  const int patience = std::max(8, n / 4);
  for (;;) {
    int u = -1, b = -1;
    std::int64_t gu = std::numeric_limits<std::int64_t>::min();
    for (int v = 0; v < n; ++v) {
      if (locked[v]) continue;
      for (int p = 0; p < s.nodes(); ++p) {
        if (p == s.part(v)) continue;
        const std::int64_t gn = s.gain(v, p);
        if (gn > gu) gu = gn, u = v, b = p;
      }
    }
    if (u < 0) break;
    const int a = s.part(u);
    locked[u] = 1;
    if (s.count(b) < lim.node_capacity && s.load(b) + g.load[u] <= bound) {
      s.move(u, b);
      log.push_back({u, a});
      cum += gu;
    } else {
      s.move(u, b);
      int v = -1;
      std::int64_t gv = std::numeric_limits<std::int64_t>::min();
      for (int w = 0; w < n; ++w) {
        if (locked[w] || s.part(w) != b) continue;
        if (s.count(a) >= lim.node_capacity) continue;
        if (s.load(a) + g.load[w] > bound || s.load(b) - g.load[w] > bound) continue;
        const std::int64_t gn = s.gain(w, a);
        if (gn > gv) gv = gn, v = w;
      }
      if (v < 0) {
        s.move(u, a);
        continue;
      }
      s.move(v, a);
      locked[v] = 1;
      log.push_back({u, a});
      log.push_back({v, b});
      cum += gu + gv;
    }
    if (cum > best) {
      best = cum, best_len = log.size(), since_best = 0;
    } else if (++since_best > patience) {
      break;
    }
  }
  for (std::size_t i = log.size(); i > best_len; --i) s.move(log[i - 1].v, log[i - 1].from);
  return best;
}

}  // namespace

RefineStats refine(const Hypergraph& g, std::vector<int>& part, const Limits& lim, int passes) {
  State s(g, part);
  repair_counts(g, s, lim);
  repair_balance(g, s, lim);
  const std::int64_t bound = std::max(lim.node_load_bound, max_load(s));
  RefineStats st;
  for (int i = 0; i < passes; ++i) {
    ++st.passes;
    if (fm_pass(g, s, lim, bound) <= 0) break;
  }
  st.objective = s.objective();
  st.balanced = max_load(s) <= lim.node_load_bound;
  return st;
}

}  // namespace moeplan::placement::locality_detail
