// Exact all-to-all accounting (docs/traffic.md): the optimized parallel pass and the
// straightforward reference it is checked against.
#include "moeplan/placement/traffic.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <map>
#include <numeric>
#include <set>
#include <type_traits>
#include <utility>

#include "moeplan/io/error.hpp"

namespace moeplan::placement {

double token_bytes(std::int64_t hidden, const std::string& dtype) {
  if (hidden <= 0) throw Error(ErrorKind::usage, {}, "hidden size must be positive, got " + std::to_string(hidden));
  const double h = static_cast<double>(hidden);
  if (dtype == "fp8") return h + 4.0 * static_cast<double>((hidden + 127) / 128);
  if (dtype == "bf16" || dtype == "fp16") return 2 * h;
  if (dtype == "fp32") return 4 * h;
  throw Error(ErrorKind::usage, {}, "unknown message dtype \"" + dtype + "\" (expected fp8, bf16, fp16 or fp32)");
}

double TrafficReport::inter_node_sends_per_token_layer() const {
  return total.token_layers ? static_cast<double>(total.inter_node_dedup) / static_cast<double>(total.token_layers) : 0;
}
double TrafficReport::inter_node_expert_sends_per_token_layer() const {
  return total.token_layers ? static_cast<double>(total.sends_inter_node) / static_cast<double>(total.token_layers) : 0;
}
double TrafficReport::intra_node_expert_sends_per_token_layer() const {
  return total.token_layers ? static_cast<double>(total.sends_intra_node) / static_cast<double>(total.token_layers) : 0;
}
double TrafficReport::intra_node_sends_per_token_layer() const {
  return total.token_layers ? static_cast<double>(total.intra_node_dedup) / static_cast<double>(total.token_layers) : 0;
}
std::vector<double> TrafficReport::layer_load_imbalances() const {
  std::vector<double> out;
  for (const TrafficTotals& l : per_layer)
    if (l.gpu_load_mean > 0) out.push_back(static_cast<double>(l.gpu_load_max) / l.gpu_load_mean);
  return out;
}
double TrafficReport::mean_layer_load_imbalance(int* layers) const {
  const std::vector<double> v = layer_load_imbalances();
  if (layers) *layers = static_cast<int>(v.size());
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 1.0 : sum / static_cast<double>(v.size());
}
double TrafficReport::gpu_load_max_over_mean() const {
  return total.gpu_load_mean > 0 ? static_cast<double>(total.gpu_load_max) / total.gpu_load_mean : 0;
}

namespace {

// NIC bytes of GPU g in its busier direction (tokens when bytes are absent).
double nic_peak(const TrafficReport& r, std::size_t g) {
  const double out = static_cast<double>(r.gpu_nic_send_tokens[g]), in = static_cast<double>(r.gpu_nic_recv_tokens[g]);
  if (!r.bytes) return std::max(out, in);
  // Dispatch out + combine back out; dispatch in + combine back in.
  return std::max(out * r.bytes->dispatch + in * r.bytes->combine, in * r.bytes->dispatch + out * r.bytes->combine);
}

}  // namespace

int TrafficReport::busiest_nic() const {
  int best = 0;
  for (std::size_t g = 1; g < gpu_nic_send_tokens.size(); ++g)
    if (nic_peak(*this, g) > nic_peak(*this, static_cast<std::size_t>(best))) best = static_cast<int>(g);
  return best;
}

namespace {

void check_inputs(const trace::TraceSet& set, const Placement& p, const Homes& homes) {
  const Cluster& c = p.cluster;
  if (c.nodes <= 0 || c.gpus_per_node <= 0 || c.slots_per_gpu <= 0)
    throw_bad_input("placement", "", "cluster", "nodes, GPUs per node and slots per GPU must be positive");
  if (p.layers != set.model.moe_layers())
    throw_bad_input("placement", "", "layers",
                    std::to_string(p.layers) + " layers, the trace has " + std::to_string(set.model.moe_layers()) +
                        " MoE layers");
  if (p.num_experts != set.model.num_experts)
    throw_bad_input("placement", "", "experts",
                    std::to_string(p.num_experts) + " experts, the trace has " + std::to_string(set.model.num_experts));
  const std::size_t slots = static_cast<std::size_t>(c.slots());
  if (p.slot_expert.size() != slots * static_cast<std::size_t>(p.layers))
    throw_bad_input("placement", "", "slots", "expected layers x slots entries");
  std::vector<char> seen(static_cast<std::size_t>(p.num_experts));
  for (int l = 0; l < p.layers; ++l) {
    std::fill(seen.begin(), seen.end(), 0);
    for (std::int32_t e : p.layer(l)) {
      if (e < -1 || e >= p.num_experts)
        throw_bad_input("placement", "layer " + std::to_string(l), "slots", "expert " + std::to_string(e) + " out of range");
      if (e >= 0) seen[static_cast<std::size_t>(e)] = 1;
    }
    for (int e = 0; e < p.num_experts; ++e)
      if (!seen[static_cast<std::size_t>(e)])
        throw_bad_input("placement", "layer " + std::to_string(l), "slots", "expert " + std::to_string(e) + " has no slot");
  }
  if (homes.size() != set.requests.size())
    throw_bad_input("homes", "", "", std::to_string(homes.size()) + " homes for " + std::to_string(set.requests.size()) +
                                         " requests");
  for (std::size_t i = 0; i < homes.size(); ++i)
    if (homes[i] < 0 || homes[i] >= c.gpus())
      throw_bad_input("homes", "request \"" + set.requests[i].id + "\"", "", "GPU " + std::to_string(homes[i]) + " out of range");
}

// The per-layer counts every implementation produces, from which the report is derived:
// pair[l][h][g] per-expert sends from home GPU h to GPU g (g == h: served locally),
// node[l][h][n] node-dedup inter-node sends from h to remote node n, and per layer the
// node-dedup intra-node forwards and the token-layers with a local choice.
struct Raw {
  int L = 0, G = 0, N = 0;
  std::vector<std::uint64_t> pair;  // [l][h][g]
  std::vector<std::uint64_t> node;  // [l][h][n]
  std::vector<std::uint64_t> intra_dedup, local_dedup, token_layers;  // [l]

  void init(int layers, const Cluster& c) {
    L = layers, G = c.gpus(), N = c.nodes;
    pair.assign(static_cast<std::size_t>(L) * G * G, 0);
    node.assign(static_cast<std::size_t>(L) * G * N, 0);
    intra_dedup.assign(static_cast<std::size_t>(L), 0);
    local_dedup.assign(static_cast<std::size_t>(L), 0);
    token_layers.assign(static_cast<std::size_t>(L), 0);
  }
  std::uint64_t& at_pair(int l, int h, int g) { return pair[(static_cast<std::size_t>(l) * G + h) * G + g]; }
  std::uint64_t& at_node(int l, int h, int n) { return node[(static_cast<std::size_t>(l) * G + h) * N + n]; }
};

TrafficReport derive(Raw& raw, const Cluster& c, int top_k, const std::optional<MessageBytes>& bytes) {
  TrafficReport r;
  r.cluster = c;
  r.layers = raw.L;
  r.top_k = top_k;
  r.bytes = bytes;
  const int G = raw.G, N = raw.N, gpn = c.gpus_per_node;
  r.per_layer.assign(static_cast<std::size_t>(raw.L), {});
  r.gpu_send_tokens.assign(static_cast<std::size_t>(G), 0);
  r.gpu_recv_tokens = r.gpu_nic_send_tokens = r.gpu_nic_recv_tokens = r.gpu_expert_tokens = r.gpu_send_tokens;
  std::vector<std::uint64_t> load(static_cast<std::size_t>(G));
  for (int l = 0; l < raw.L; ++l) {
    TrafficTotals& t = r.per_layer[static_cast<std::size_t>(l)];
    t.token_layers = raw.token_layers[static_cast<std::size_t>(l)];
    t.intra_node_dedup = raw.intra_dedup[static_cast<std::size_t>(l)];
    t.intra_gpu_dedup = raw.local_dedup[static_cast<std::size_t>(l)];
    std::fill(load.begin(), load.end(), 0);
    for (int h = 0; h < G; ++h) {
      for (int g = 0; g < G; ++g) {
        const std::uint64_t v = raw.at_pair(l, h, g);
        load[static_cast<std::size_t>(g)] += v;
        if (g == h) {
          t.sends_intra_gpu += v;
          continue;
        }
        (c.node_of_gpu(g) == c.node_of_gpu(h) ? t.sends_intra_node : t.sends_inter_node) += v;
        r.gpu_send_tokens[static_cast<std::size_t>(h)] += v;
        r.gpu_recv_tokens[static_cast<std::size_t>(g)] += v;
        t.max_message = std::max(t.max_message, v);
      }
      for (int n = 0; n < N; ++n) {
        const std::uint64_t v = raw.at_node(l, h, n);
        t.inter_node_dedup += v;
        r.gpu_nic_send_tokens[static_cast<std::size_t>(h)] += v;
        r.gpu_nic_recv_tokens[static_cast<std::size_t>(n * gpn + h % gpn)] += v;
      }
    }
    t.padded_sends = static_cast<std::uint64_t>(G) * static_cast<std::uint64_t>(G - 1) * t.max_message;
    std::uint64_t sum = 0;
    for (int g = 0; g < G; ++g) {
      t.gpu_load_max = std::max(t.gpu_load_max, load[static_cast<std::size_t>(g)]);
      sum += load[static_cast<std::size_t>(g)];
      r.gpu_expert_tokens[static_cast<std::size_t>(g)] += load[static_cast<std::size_t>(g)];
    }
    t.gpu_load_mean = static_cast<double>(sum) / G;

    TrafficTotals& a = r.total;
    a.token_layers += t.token_layers;
    a.sends_intra_gpu += t.sends_intra_gpu;
    a.sends_intra_node += t.sends_intra_node;
    a.sends_inter_node += t.sends_inter_node;
    a.inter_node_dedup += t.inter_node_dedup;
    a.intra_node_dedup += t.intra_node_dedup;
    a.intra_gpu_dedup += t.intra_gpu_dedup;
    a.max_message += t.max_message;
    a.padded_sends += t.padded_sends;
    a.gpu_load_max += t.gpu_load_max;
  }
  // The mean summed over layers, computed from the integer total so that it is exact.
  std::uint64_t all = 0;
  for (std::uint64_t v : r.gpu_expert_tokens) all += v;
  r.total.gpu_load_mean = static_cast<double>(all) / G;
  return r;
}

// Candidate destinations of every (source GPU, layer, expert): `count` GPUs starting at
// cand[first]; when count == 1, `first` is the GPU itself.
struct Entry {
  std::int32_t first;
  std::int32_t count;
};

// The dispatch rule as lookup tables. `fixed[l][e]` is the destination GPU when it is the same
// for every source GPU (one slot, or every candidate list of one GPU), else -1; then
// entries[h][l][e] holds the candidates from source GPU h. The hot loop reads the small
// `fixed` table and touches the per-source table only for replicated experts.
struct DispatchTable {
  int L = 0, E = 0;
  std::vector<std::int32_t> fixed;  // [l][e]
  std::vector<Entry> entries;       // [h][l][e]
  std::vector<std::int32_t> cand;   // GPUs of multi-candidate entries

  explicit DispatchTable(const Placement& p) : L(p.layers), E(p.num_experts) {
    const Cluster& c = p.cluster;
    const int G = c.gpus(), S = c.slots();
    entries.resize(static_cast<std::size_t>(G) * L * E);
    fixed.assign(static_cast<std::size_t>(L) * E, -1);
    // gpus_of[e]: the GPUs of the slots holding e, in ascending slot order (one layer at a
    // time); node_of[g] precomputed (no division per entry).
    std::vector<std::vector<int>> gpus_of(static_cast<std::size_t>(E));
    std::vector<int> node_of(static_cast<std::size_t>(G));
    for (int g = 0; g < G; ++g) node_of[static_cast<std::size_t>(g)] = c.node_of_gpu(g);
    std::vector<std::int32_t> pick;
    std::map<std::vector<std::int32_t>, std::int32_t> interned;  // identical lists share storage
    for (int l = 0; l < L; ++l) {
      for (auto& v : gpus_of) v.clear();
      auto lay = p.layer(l);
      for (int s = 0; s < S; ++s)
        if (lay[static_cast<std::size_t>(s)] >= 0) gpus_of[static_cast<std::size_t>(lay[static_cast<std::size_t>(s)])].push_back(c.gpu_of_slot(s));
      for (int e = 0; e < E; ++e) {
        const auto& gs = gpus_of[static_cast<std::size_t>(e)];
        Entry* col = entries.data() + static_cast<std::size_t>(l) * E + e;  // h = 0
        const std::size_t stride = static_cast<std::size_t>(L) * E;
        if (std::all_of(gs.begin(), gs.end(), [&](int g) { return g == gs[0]; })) {
          // One GPU holds every replica: the same single candidate from every source.
          fixed[static_cast<std::size_t>(l) * E + e] = gs[0];
          for (int h = 0; h < G; ++h) col[static_cast<std::size_t>(h) * stride] = {gs[0], 1};
          continue;
        }
        for (int h = 0; h < G; ++h) {
          pick.clear();
          for (int g : gs)
            if (g == h) pick.push_back(h);
          if (pick.empty())
            for (int g : gs)
              if (node_of[static_cast<std::size_t>(g)] == node_of[static_cast<std::size_t>(h)]) pick.push_back(g);
          if (pick.empty()) pick.assign(gs.begin(), gs.end());
          Entry& en = col[static_cast<std::size_t>(h) * stride];
          en.count = static_cast<std::int32_t>(pick.size());
          if (pick.size() == 1) {
            en.first = pick[0];
          } else {
            auto [it, fresh] = interned.try_emplace(pick, static_cast<std::int32_t>(cand.size()));
            if (fresh) cand.insert(cand.end(), pick.begin(), pick.end());
            en.first = it->second;
          }
        }
      }
    }
    if (cand.empty()) cand.push_back(0);  // keeps cand.data() valid
  }
};

// The dispatch rule unrolled over token phases: with P the least common multiple of all
// candidate counts, token t's destination from home h for (layer l, expert e) is the byte
// at[((h * P + t % P) * L + l) * E + e], because t mod count == (t mod P) mod count. The hot loop
// is then one byte load per top-k choice with no branch. Built only for up to 64 GPUs and when
// the table stays small (P is 1 without replicas, 2 for the usual one extra replica).
struct PhaseTable {
  std::uint64_t P = 0;  // 0: not built (use DispatchTable)
  std::vector<std::uint8_t> at;

  PhaseTable(const DispatchTable& t, int G) {
    constexpr std::uint64_t max_bytes = std::uint64_t{64} << 20;
    const std::uint64_t per_phase = static_cast<std::uint64_t>(G) * t.L * t.E;
    if (G > 64 || per_phase == 0) return;
    std::vector<char> seen;  // the distinct candidate counts (at most the slot count)
    for (const Entry& en : t.entries) {
      if (static_cast<std::size_t>(en.count) >= seen.size()) seen.resize(static_cast<std::size_t>(en.count) + 1);
      seen[static_cast<std::size_t>(en.count)] = 1;
    }
    std::uint64_t lcm = 1;
    for (std::size_t n = 1; n < seen.size(); ++n) {
      if (seen[n]) lcm = std::lcm(lcm, static_cast<std::uint64_t>(n));
      if (lcm * per_phase > max_bytes) return;
    }
    P = lcm;
    at.resize(P * per_phase);
    const std::size_t LE = static_cast<std::size_t>(t.L) * t.E;
    for (int h = 0; h < G; ++h)
      for (std::uint64_t ph = 0; ph < P; ++ph) {
        const Entry* src = t.entries.data() + static_cast<std::size_t>(h) * LE;
        std::uint8_t* dst = at.data() + (static_cast<std::size_t>(h) * P + ph) * LE;
        for (std::size_t i = 0; i < LE; ++i) {
          const Entry en = src[i];
          dst[i] = static_cast<std::uint8_t>(
              en.count == 1 ? en.first : t.cand[static_cast<std::size_t>(en.first) + ph % static_cast<std::uint64_t>(en.count)]);
        }
      }
  }
};

// Destination lookups for the mask kernel: token(t) gives the row for token t, row(le, e)
// the destination GPU of expert e at layer offset le = l * E.
struct PhaseDest {
  const std::uint8_t* base;  // this home's P phases
  std::uint64_t P;
  std::size_t LE;
  struct Row {
    const std::uint8_t* p;
    int operator()(std::size_t le, std::size_t e) const { return p[le + e]; }
  };
  Row token(std::uint64_t t) const { return {base + (t % P) * LE}; }
};
struct EntryDest {  // any candidate count: the generic tables
  const Entry* tab;  // this home's entries
  const std::int32_t* fix;
  const std::int32_t* cand;
  struct Row {
    const Entry* tab;
    const std::int32_t* fix;
    const std::int32_t* cand;
    std::uint64_t t;
    int operator()(std::size_t le, std::size_t e) const {
      int g = fix[le + e];
      if (g < 0) [[unlikely]] {
        const Entry en = tab[le + e];
        g = en.count == 1 ? en.first : cand[en.first + static_cast<std::int32_t>(t % static_cast<std::uint64_t>(en.count))];
      }
      return g;
    }
  };
  Row token(std::uint64_t t) const { return {tab, fix, cand, t}; }
};

// The counters of one run of one home's tokens, flushed into the thread's per-home rows after
// the run. uint32 is enough: a run has at most `chunk` tokens.
struct MaskJob {
  int L, E, K, G, N, h;
  std::uint64_t fwd;   // GPUs a token from h reaches over NVLink
  std::uint64_t away;  // GPUs off h's node
  const std::uint64_t* node_mask;
  const std::int32_t* node_of;
  std::uint32_t* pair;   // [l][g] per-expert sends
  std::uint32_t* nodes;  // Hist: [l][subset of remote nodes] token-layers; else [l][n] sends
  std::uint32_t* intra;  // [l] node-dedup NVLink sends
  std::uint32_t* local;  // [l] token-layers with a choice on h
};

// Up to 64 GPUs: a token-layer's destination GPUs as a bit mask; the node-dedup NVLink count
// is a popcount against h's forward mask, the local copy one bit. With Hist (up to 8 nodes) the
// set of remote nodes reached indexes a histogram (expanded per node at the flush), so no
// branch depends on the data; else a loop over the remote nodes reached. KC: top-k when known
// at compile time (0: j.K).
template <int KC, bool Hist, class Id, class Dest>
[[gnu::always_inline]] inline void mask_body(const Id* ids, std::size_t per_token, std::uint64_t first,
                                             std::uint64_t last, const Dest& dest, const MaskJob& j) {
  const int K = KC > 0 ? KC : j.K;
  const int L = j.L, G = j.G, N = j.N, h = j.h;
  const std::size_t E = static_cast<std::size_t>(j.E);
  const std::size_t H = Hist ? std::size_t{1} << N : static_cast<std::size_t>(N);
  const std::uint64_t fwd = j.fwd, away = j.away;
  for (std::uint64_t t = first; t < last; ++t) {
    const Id* row = ids + t * per_token;
    const auto d = dest.token(t);
    std::uint32_t* pl = j.pair;
    std::uint32_t* nl = j.nodes;
    for (int l = 0; l < L; ++l, row += K, pl += G, nl += H) {
      const std::size_t le = static_cast<std::size_t>(l) * E;
      std::uint64_t mask = 0;
      for (int k = 0; k < K; ++k) {
        const int g = d(le, row[k]);
        ++pl[g];
        mask |= std::uint64_t{1} << g;
      }
      j.local[l] += static_cast<std::uint32_t>((mask >> h) & 1u);
      j.intra[l] += static_cast<std::uint32_t>(std::popcount(mask & fwd));
      const std::uint64_t rem = mask & away;
      if constexpr (Hist) {
        std::uint32_t reached = 0;
        for (int n = 0; n < N; ++n) reached |= static_cast<std::uint32_t>((rem & j.node_mask[n]) != 0) << n;
        ++nl[reached];
      } else {
        for (std::uint64_t r = rem; r;) {
          const int n = j.node_of[std::countr_zero(r)];
          ++nl[n];
          r &= ~j.node_mask[n];
        }
      }
    }
  }
}

// The kernel compiled twice: with the x86 popcnt instruction (chosen at run time where the CPU
// has it; without it std::popcount is a library call per token-layer) and portable.
template <int KC, bool Hist, class Id, class Dest>
void mask_kernel(const Id* ids, std::size_t per_token, std::uint64_t first, std::uint64_t last, const Dest& dest,
                 const MaskJob& j) {
  mask_body<KC, Hist>(ids, per_token, first, last, dest, j);
}
#if defined(__x86_64__) && defined(__GNUC__)
template <int KC, bool Hist, class Id, class Dest>
[[gnu::target("popcnt")]] void mask_kernel_popcnt(const Id* ids, std::size_t per_token, std::uint64_t first,
                                                  std::uint64_t last, const Dest& dest, const MaskJob& j) {
  mask_body<KC, Hist>(ids, per_token, first, last, dest, j);
}
bool has_popcnt() { return __builtin_cpu_supports("popcnt"); }
#else
template <int KC, bool Hist, class Id, class Dest>
void mask_kernel_popcnt(const Id* ids, std::size_t per_token, std::uint64_t first, std::uint64_t last,
                        const Dest& dest, const MaskJob& j) {
  mask_body<KC, Hist>(ids, per_token, first, last, dest, j);
}
bool has_popcnt() { return false; }
#endif

// A contiguous run of one request's tokens (requests are split so that threads balance).
struct Work {
  std::uint64_t first, last;  // token indices [first, last)
  std::int32_t home;
};

// One thread's accumulators: rows allocated for the homes it meets, plus the run counters.
struct ThreadAcc {
  std::vector<std::vector<std::uint64_t>> pair;  // [h] -> [l][g]
  std::vector<std::vector<std::uint64_t>> node;  // [h] -> [l][n]
  std::vector<std::uint64_t> intra_dedup, local_dedup, token_layers;
  std::vector<std::uint32_t> gpu_stamp, node_stamp;  // beyond 64 GPUs
  std::uint32_t stamp = 0;
  std::vector<std::uint32_t> job_pair, job_nodes, job_intra, job_local;  // MaskJob counters
};

}  // namespace

TrafficReport account_traffic(const trace::TraceSet& set, const Placement& p, const Homes& homes,
                              const TrafficOptions& opt) {
  check_inputs(set, p, homes);
  const Cluster& c = p.cluster;
  const int L = p.layers, E = p.num_experts, K = set.model.top_k, G = c.gpus(), N = c.nodes, gpn = c.gpus_per_node;
  const DispatchTable table(p);
  const PhaseTable phases(table, G);
  std::vector<std::int32_t> node_of(static_cast<std::size_t>(G));
  std::vector<std::int32_t> ranks(static_cast<std::size_t>(G));
  // For up to 64 GPUs: node_mask[n] = the GPUs of node n; fwd_mask[h] = the GPUs a token from h
  // reaches over NVLink (all but h and the arrival GPUs of h's rank on other nodes).
  std::vector<std::uint64_t> node_mask(static_cast<std::size_t>(N)), fwd_mask(static_cast<std::size_t>(G));
  if (G <= 64) {
    for (int g = 0; g < G; ++g) node_mask[static_cast<std::size_t>(c.node_of_gpu(g))] |= std::uint64_t{1} << g;
    for (int h = 0; h < G; ++h)
      for (int g = 0; g < G; ++g)
        if (g != h && (c.node_of_gpu(g) == c.node_of_gpu(h) || g % gpn != h % gpn))
          fwd_mask[static_cast<std::size_t>(h)] |= std::uint64_t{1} << g;
  }
  for (int g = 0; g < G; ++g) node_of[static_cast<std::size_t>(g)] = c.node_of_gpu(g), ranks[static_cast<std::size_t>(g)] = g % gpn;
  const bool popcnt = has_popcnt();
  const bool hist = N <= 8;  // remote-node subsets index a 2^N histogram
  const std::size_t H = hist ? std::size_t{1} << N : static_cast<std::size_t>(N);

  constexpr std::uint64_t chunk = 2048;
  std::vector<Work> work;
  for (std::size_t i = 0; i < set.requests.size(); ++i) {
    const trace::Request& q = set.requests[i];
    for (std::uint64_t t = 0; t < q.tokens(); t += chunk)
      work.push_back({q.token_offset + t, q.token_offset + std::min(q.tokens(), t + chunk), homes[i]});
  }

  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  std::vector<ThreadAcc> acc(static_cast<std::size_t>(threads));
  const std::size_t per_token = set.ids_per_token();
  const auto n_work = static_cast<std::ptrdiff_t>(work.size());

  set.ids.visit([&](auto ids) {
#pragma omp parallel num_threads(threads)
    {
      ThreadAcc& a = acc[static_cast<std::size_t>(omp_get_thread_num())];
      const bool use_popcnt = popcnt, use_hist = hist;  // locals: clang's OpenMP lambdas need them
      a.pair.resize(static_cast<std::size_t>(G));
      a.node.resize(static_cast<std::size_t>(G));
      a.intra_dedup.assign(static_cast<std::size_t>(L), 0);
      a.local_dedup.assign(static_cast<std::size_t>(L), 0);
      a.token_layers.assign(static_cast<std::size_t>(L), 0);
      if (G <= 64) {
        a.job_pair.assign(static_cast<std::size_t>(L) * G, 0);
        a.job_nodes.assign(static_cast<std::size_t>(L) * H, 0);
        a.job_intra.assign(static_cast<std::size_t>(L), 0);
        a.job_local.assign(static_cast<std::size_t>(L), 0);
      } else {
        a.gpu_stamp.assign(static_cast<std::size_t>(G), 0);
        a.node_stamp.assign(static_cast<std::size_t>(N), 0);
      }
#pragma omp for schedule(dynamic, 1)
      for (std::ptrdiff_t w = 0; w < n_work; ++w) {
        const Work& job = work[static_cast<std::size_t>(w)];
        const int h = job.home, nh = node_of[static_cast<std::size_t>(h)], rank = h % gpn;
        auto& prow = a.pair[static_cast<std::size_t>(h)];
        auto& nrow = a.node[static_cast<std::size_t>(h)];
        if (prow.empty()) prow.assign(static_cast<std::size_t>(L) * G, 0);
        if (nrow.empty()) nrow.assign(static_cast<std::size_t>(L) * N, 0);
        const Entry* tab = table.entries.data() + static_cast<std::size_t>(h) * L * E;
        const std::uint64_t tokens = job.last - job.first;
        for (int l = 0; l < L; ++l) a.token_layers[static_cast<std::size_t>(l)] += tokens;
        if (G <= 64) {
          const MaskJob mj{L, E, K, G, N, h, fwd_mask[static_cast<std::size_t>(h)],
                           ~node_mask[static_cast<std::size_t>(nh)], node_mask.data(), node_of.data(),
                           a.job_pair.data(), a.job_nodes.data(), a.job_intra.data(), a.job_local.data()};
          // Pick the instantiation: top-k, histogram or node loop, phase table or generic.
          auto run = [&](auto kc, const auto& dest) {
            constexpr int kv = decltype(kc)::value;
            const auto* d = ids.data();
            if (use_popcnt)
              use_hist ? mask_kernel_popcnt<kv, true>(d, per_token, job.first, job.last, dest, mj)
                       : mask_kernel_popcnt<kv, false>(d, per_token, job.first, job.last, dest, mj);
            else
              use_hist ? mask_kernel<kv, true>(d, per_token, job.first, job.last, dest, mj)
                       : mask_kernel<kv, false>(d, per_token, job.first, job.last, dest, mj);
          };
          auto with_dest = [&](const auto& dest) {
            if (K == 8) run(std::integral_constant<int, 8>{}, dest);
            else if (K == 6) run(std::integral_constant<int, 6>{}, dest);
            else run(std::integral_constant<int, 0>{}, dest);
          };
          const std::size_t LE = static_cast<std::size_t>(L) * E;
          if (phases.P)
            with_dest(PhaseDest{phases.at.data() + static_cast<std::size_t>(h) * phases.P * LE, phases.P, LE});
          else
            with_dest(EntryDest{tab, table.fixed.data(), table.cand.data()});
          // Flush the run's counters into h's rows (and reset them).
          for (std::size_t i = 0; i < a.job_pair.size(); ++i) prow[i] += std::exchange(a.job_pair[i], 0);
          for (int l = 0; l < L; ++l) {
            const auto ls = static_cast<std::size_t>(l);
            a.intra_dedup[ls] += std::exchange(a.job_intra[ls], 0);
            a.local_dedup[ls] += std::exchange(a.job_local[ls], 0);
            std::uint32_t* hl = a.job_nodes.data() + ls * H;
            std::uint64_t* nl = nrow.data() + ls * static_cast<std::size_t>(N);
            if (hist) {
              hl[0] = 0;  // token-layers reaching no remote node
              for (std::size_t s = 1; s < H; ++s) {
                const std::uint32_t v = std::exchange(hl[s], 0);
                if (v)
                  for (std::size_t r = s; r; r &= r - 1) nl[std::countr_zero(r)] += v;
              }
            } else {
              for (int n = 0; n < N; ++n) nl[n] += std::exchange(hl[n], 0);
            }
          }
          continue;
        }
        // Beyond 64 GPUs: mark arrays with a stamp per token-layer.
        auto dest = [&](std::uint64_t t, std::size_t le, std::size_t e) {
          return EntryDest{tab, table.fixed.data(), table.cand.data()}.token(t)(le, e);
        };
        const std::int32_t* rank_of = ranks.data();
        std::uint32_t* gst = a.gpu_stamp.data();
        std::uint32_t* nst = a.node_stamp.data();
        for (std::uint64_t t = job.first; t < job.last; ++t) {
          const auto* row = ids.data() + t * per_token;
          for (int l = 0; l < L; ++l, row += K) {
            if (++a.stamp == 0) [[unlikely]] {  // wrapped: clear the marks
              std::fill(a.gpu_stamp.begin(), a.gpu_stamp.end(), 0);
              std::fill(a.node_stamp.begin(), a.node_stamp.end(), 0);
              a.stamp = 1;
            }
            const std::uint32_t st = a.stamp;
            const std::size_t le = static_cast<std::size_t>(l) * E;
            std::uint64_t* pl = prow.data() + static_cast<std::size_t>(l) * G;
            std::uint64_t* nl = nrow.data() + static_cast<std::size_t>(l) * N;
            std::uint32_t intra = 0, local = 0;
            // Branch-free classification: a fresh GPU off the home counts one NVLink hop
            // unless it is the arrival GPU of a remote node; a fresh remote node one RDMA send.
            for (int k = 0; k < K; ++k) {
              const int g = dest(t, le, row[k]);
              ++pl[g];
              const std::uint32_t fresh = gst[g] != st;
              gst[g] = st;
              const int n = node_of[static_cast<std::size_t>(g)];
              const std::uint32_t remote = n != nh;
              const std::uint32_t fresh_node = remote & (nst[n] != st);
              nst[n] = st;
              nl[n] += fresh_node;
              const std::uint32_t home = g == h;
              const std::uint32_t arrival = remote & (rank_of[g] == rank);
              intra += fresh & (home ^ 1u) & (arrival ^ 1u);
              local |= fresh & home;
            }
            a.intra_dedup[static_cast<std::size_t>(l)] += intra;
            a.local_dedup[static_cast<std::size_t>(l)] += local;
          }
        }
      }
    }
  });

  Raw raw;
  raw.init(L, c);
  for (const ThreadAcc& a : acc) {  // fixed thread order; integer sums
    if (a.token_layers.empty()) continue;
    for (int l = 0; l < L; ++l) {
      raw.intra_dedup[static_cast<std::size_t>(l)] += a.intra_dedup[static_cast<std::size_t>(l)];
      raw.local_dedup[static_cast<std::size_t>(l)] += a.local_dedup[static_cast<std::size_t>(l)];
      raw.token_layers[static_cast<std::size_t>(l)] += a.token_layers[static_cast<std::size_t>(l)];
    }
    for (int h = 0; h < G; ++h) {
      const auto& prow = a.pair[static_cast<std::size_t>(h)];
      const auto& nrow = a.node[static_cast<std::size_t>(h)];
      if (prow.empty()) continue;
      for (int l = 0; l < L; ++l) {
        for (int g = 0; g < G; ++g) raw.at_pair(l, h, g) += prow[static_cast<std::size_t>(l) * G + g];
        for (int n = 0; n < N; ++n) raw.at_node(l, h, n) += nrow[static_cast<std::size_t>(l) * N + n];
      }
    }
  }
  return derive(raw, c, K, opt.bytes);
}

TrafficReport account_traffic_reference(const trace::TraceSet& set, const Placement& p, const Homes& homes,
                                        const TrafficOptions& opt) {
  check_inputs(set, p, homes);
  const Cluster& c = p.cluster;
  const int L = p.layers, K = set.model.top_k;
  Raw raw;
  raw.init(L, c);
  for (std::size_t r = 0; r < set.requests.size(); ++r) {
    const trace::Request& q = set.requests[r];
    const int h = homes[r];
    for (std::uint64_t t = q.token_offset; t < q.token_offset + q.tokens(); ++t) {
      for (int l = 0; l < L; ++l) {
        ++raw.token_layers[static_cast<std::size_t>(l)];
        std::set<int> dst_gpus;
        for (int k = 0; k < K; ++k) {
          const int e = static_cast<int>(set.ids[(t * L + l) * K + k]);
          // Search the layer for e's slots; apply the rule: same GPU, else same node, else all.
          std::vector<int> same_gpu, same_node, all;
          auto lay = p.layer(l);
          for (int s = 0; s < c.slots(); ++s) {
            if (lay[static_cast<std::size_t>(s)] != e) continue;
            all.push_back(c.gpu_of_slot(s));
            if (c.gpu_of_slot(s) == h) same_gpu.push_back(c.gpu_of_slot(s));
            if (c.node_of_slot(s) == c.node_of_gpu(h)) same_node.push_back(c.gpu_of_slot(s));
          }
          const std::vector<int>& from = !same_gpu.empty() ? same_gpu : !same_node.empty() ? same_node : all;
          const int g = from[t % from.size()];
          ++raw.at_pair(l, h, g);
          dst_gpus.insert(g);
        }
        // Node dedup: one send per remote node, forwards to every other destination GPU there
        // except the arrival GPU (same local rank as the home); home-node GPUs directly.
        std::set<int> remote_nodes;
        for (int g : dst_gpus) {
          if (g == h) {
            ++raw.local_dedup[static_cast<std::size_t>(l)];
            continue;
          }
          const int n = c.node_of_gpu(g);
          if (n == c.node_of_gpu(h)) {
            ++raw.intra_dedup[static_cast<std::size_t>(l)];
            continue;
          }
          remote_nodes.insert(n);
          const int arrival = n * c.gpus_per_node + h % c.gpus_per_node;
          if (g != arrival) ++raw.intra_dedup[static_cast<std::size_t>(l)];
        }
        for (int n : remote_nodes) ++raw.at_node(l, h, n);
      }
    }
  }
  return derive(raw, c, K, opt.bytes);
}

// ---- output ----

namespace {

// Bytes as an integer when exact (always, for the supported formats), else a double.
nlohmann::json byte_value(double b) {
  if (b >= 0 && b < 9.0e18 && b == static_cast<double>(static_cast<std::uint64_t>(b)))
    return static_cast<std::uint64_t>(b);
  return b;
}

nlohmann::ordered_json tier(std::uint64_t sends, const std::optional<MessageBytes>& mb) {
  nlohmann::ordered_json j;
  j["sends"] = sends;
  if (mb) {
    j["dispatch_bytes"] = byte_value(static_cast<double>(sends) * mb->dispatch);
    j["combine_bytes"] = byte_value(static_cast<double>(sends) * mb->combine);
    j["bytes"] = byte_value(static_cast<double>(sends) * (mb->dispatch + mb->combine));
  }
  return j;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

nlohmann::json to_json(const TrafficReport& r) {
  const auto& mb = r.bytes;
  const TrafficTotals& t = r.total;
  const double tl = static_cast<double>(t.token_layers);
  const double msg = mb ? mb->dispatch + mb->combine : 0;
  nlohmann::ordered_json j;
  j["cluster"] = {{"nodes", r.cluster.nodes}, {"gpus_per_node", r.cluster.gpus_per_node},
                  {"slots_per_gpu", r.cluster.slots_per_gpu}, {"gpus", r.cluster.gpus()}};
  j["layers"] = r.layers;
  j["top_k"] = r.top_k;
  j["token_layers"] = t.token_layers;
  if (mb) {
    j["bytes_per_token"] = {{"dispatch", byte_value(mb->dispatch)}, {"combine", byte_value(mb->combine)}};
  } else {
    j["bytes_per_token"] = nullptr;
    j["note"] = "bytes omitted: no hidden size given (--model or --hidden-size); counts are token sends";
  }
  j["inter_node_sends_per_token_layer"] = r.inter_node_sends_per_token_layer();
  j["inter_node_expert_sends_per_token_layer"] = r.inter_node_expert_sends_per_token_layer();
  j["sends_per_token_layer"] = ratio(static_cast<double>(t.sends_off_gpu()), tl);
  j["dedup_sends_per_token_layer"] = ratio(static_cast<double>(t.inter_node_dedup + t.intra_node_dedup), tl);
  if (mb) {
    j["inter_node_bytes"] = byte_value(static_cast<double>(t.inter_node_dedup) * msg);
    j["intra_node_bytes"] = byte_value(static_cast<double>(t.intra_node_dedup) * msg);
  }
  j["gpu_load_max_over_mean"] = r.gpu_load_max_over_mean();
  j["node_dedup"] = {{"intra_gpu", tier(t.intra_gpu_dedup, mb)},
                     {"intra_node", tier(t.intra_node_dedup, mb)},
                     {"inter_node", tier(t.inter_node_dedup, mb)}};
  j["per_expert"] = {{"intra_gpu", tier(t.sends_intra_gpu, mb)},
                     {"intra_node", tier(t.sends_intra_node, mb)},
                     {"inter_node", tier(t.sends_inter_node, mb)}};
  nlohmann::ordered_json pad;
  pad["max_message_sends"] = t.max_message;
  pad["sends"] = t.padded_sends;
  pad["actual_sends"] = t.sends_off_gpu();
  pad["overhead"] = ratio(static_cast<double>(t.padded_sends), static_cast<double>(t.sends_off_gpu()));
  if (mb) pad["bytes"] = byte_value(static_cast<double>(t.padded_sends) * msg);
  j["padded"] = pad;
  j["gpu_load"] = {{"max", t.gpu_load_max}, {"mean", t.gpu_load_mean}};

  const int busy = r.busiest_nic();
  const auto bs = static_cast<std::size_t>(busy);
  nlohmann::ordered_json nic;
  nic["gpu"] = busy;
  nic["node"] = r.cluster.node_of_gpu(busy);
  nic["send_tokens"] = r.gpu_nic_send_tokens[bs];
  nic["recv_tokens"] = r.gpu_nic_recv_tokens[bs];
  if (mb) {
    const double out = static_cast<double>(r.gpu_nic_send_tokens[bs]), in = static_cast<double>(r.gpu_nic_recv_tokens[bs]);
    nic["send_bytes"] = byte_value(out * mb->dispatch + in * mb->combine);
    nic["recv_bytes"] = byte_value(in * mb->dispatch + out * mb->combine);
  }
  j["busiest_nic"] = nic;

  nlohmann::ordered_json gpus;
  gpus["expert_tokens"] = r.gpu_expert_tokens;
  gpus["send_tokens"] = r.gpu_send_tokens;
  gpus["recv_tokens"] = r.gpu_recv_tokens;
  gpus["nic_send_tokens"] = r.gpu_nic_send_tokens;
  gpus["nic_recv_tokens"] = r.gpu_nic_recv_tokens;
  if (mb) {
    auto both = [&](const std::vector<std::uint64_t>& out, const std::vector<std::uint64_t>& in) {
      nlohmann::json a = nlohmann::json::array();
      for (std::size_t g = 0; g < out.size(); ++g)
        a.push_back(byte_value(static_cast<double>(out[g]) * mb->dispatch + static_cast<double>(in[g]) * mb->combine));
      return a;
    };
    gpus["send_bytes"] = both(r.gpu_send_tokens, r.gpu_recv_tokens);
    gpus["recv_bytes"] = both(r.gpu_recv_tokens, r.gpu_send_tokens);
    gpus["nic_send_bytes"] = both(r.gpu_nic_send_tokens, r.gpu_nic_recv_tokens);
    gpus["nic_recv_bytes"] = both(r.gpu_nic_recv_tokens, r.gpu_nic_send_tokens);
  }
  j["gpus"] = gpus;

  nlohmann::ordered_json pl;
  auto column = [&](const char* key, auto get) {
    nlohmann::json a = nlohmann::json::array();
    for (const TrafficTotals& x : r.per_layer) a.push_back(get(x));
    pl[key] = a;
  };
  column("token_layers", [](const TrafficTotals& x) { return x.token_layers; });
  column("intra_gpu_sends", [](const TrafficTotals& x) { return x.sends_intra_gpu; });
  column("intra_node_sends", [](const TrafficTotals& x) { return x.sends_intra_node; });
  column("inter_node_sends", [](const TrafficTotals& x) { return x.sends_inter_node; });
  column("intra_gpu_dedup_sends", [](const TrafficTotals& x) { return x.intra_gpu_dedup; });
  column("intra_node_dedup_sends", [](const TrafficTotals& x) { return x.intra_node_dedup; });
  column("inter_node_dedup_sends", [](const TrafficTotals& x) { return x.inter_node_dedup; });
  column("inter_node_sends_per_token_layer",
         [](const TrafficTotals& x) { return ratio(static_cast<double>(x.inter_node_dedup), static_cast<double>(x.token_layers)); });
  if (mb) {
    column("inter_node_bytes", [&](const TrafficTotals& x) { return byte_value(static_cast<double>(x.inter_node_dedup) * msg); });
    column("intra_node_bytes", [&](const TrafficTotals& x) { return byte_value(static_cast<double>(x.intra_node_dedup) * msg); });
  }
  column("max_message_sends", [](const TrafficTotals& x) { return x.max_message; });
  column("padded_sends", [](const TrafficTotals& x) { return x.padded_sends; });
  column("gpu_load_max", [](const TrafficTotals& x) { return x.gpu_load_max; });
  column("gpu_load_mean", [](const TrafficTotals& x) { return x.gpu_load_mean; });
  column("gpu_load_max_over_mean",
         [](const TrafficTotals& x) { return ratio(static_cast<double>(x.gpu_load_max), x.gpu_load_mean); });
  j["per_layer"] = pl;
  return j;
}

}  // namespace moeplan::placement
