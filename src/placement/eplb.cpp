// DeepSeek's EPLB (eplb.py, rebalance_experts) reimplemented from the contract in
// ../shared/oracles/README.md, "EPLB cases" (docs/eplb.md). Every load is float32; the only
// ordering primitives are a descending sort with ties by ascending index, the first-minimum
// bin and the first-maximum replica pick. Small instances scan linearly; large ones use a
// binary heap keyed on (value, index), which picks exactly the same element.
#include "moeplan/placement/eplb.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "moeplan/io/error.hpp"

namespace moeplan::placement {
namespace {

using nlohmann::json;

// Above this many bins (packing) or candidates (replication), use a heap instead of a scan.
constexpr int kHeapThreshold = 16;

[[noreturn]] void infeasible(const std::string& what, const std::string& message) {
  throw Error(ErrorKind::infeasible, Location{what, "", ""}, message);
}

struct Shape {
  int L, E, R, G, N, P;
  int gs, gpn, epn, spn, spg, gpus_per_node;
};

// Scratch space of one thread, sized once per call of rebalance_experts.
struct Workspace {
  std::vector<float> group_load;  // G
  std::vector<int> group_bin, group_pos;
  std::vector<int> mlog2log;      // E
  std::vector<float> local_load;  // epn
  std::vector<int> local_cnt;
  std::vector<float> ratio;
  std::vector<int> heap;          // max(epn, bins)
  std::vector<int> slot_expert, slot_rank;  // spn (local expert, replica rank)
  std::vector<float> slot_load;
  std::vector<int> slot_bin, slot_pos;
  std::vector<int> order;         // max(G, spn)
  std::vector<float> bin_load;    // max(N, P/N)
  std::vector<int> bin_cnt;

  explicit Workspace(const Shape& s)
      : group_load(s.G), group_bin(s.G), group_pos(s.G), mlog2log(s.E), local_load(s.epn),
        local_cnt(s.epn), ratio(s.epn), heap(std::max({s.epn, s.N, s.gpus_per_node})),
        slot_expert(s.spn), slot_rank(s.spn), slot_load(s.spn), slot_bin(s.spn), slot_pos(s.spn),
        order(std::max(s.G, s.spn)), bin_load(std::max(s.N, s.gpus_per_node)),
        bin_cnt(std::max(s.N, s.gpus_per_node)) {}
};

// Balanced packing: n items into b bins of n / b items each (step 2 of the contract).
void balanced_packing(const float* load, int n, int b, int* bin, int* pos, Workspace& ws) {
  const int cap = n / b;
  if (cap == 1) {
    for (int i = 0; i < n; ++i) bin[i] = i, pos[i] = 0;
    return;
  }
  int* order = ws.order.data();
  std::iota(order, order + n, 0);
  // Descending by load, equal loads by ascending index: the result of a stable sort.
  std::sort(order, order + n, [load](int a, int c) { return load[a] > load[c] || (load[a] == load[c] && a < c); });
  float* bl = ws.bin_load.data();
  int* bc = ws.bin_cnt.data();
  std::fill(bl, bl + b, 0.0f);
  std::fill(bc, bc + b, 0);
  if (b <= kHeapThreshold) {
    for (int t = 0; t < n; ++t) {
      const int i = order[t];
      int best = -1;
      for (int k = 0; k < b; ++k)
        if (bc[k] < cap && (best < 0 || bl[k] < bl[best])) best = k;
      bin[i] = best;
      pos[i] = bc[best]++;
      bl[best] += load[i];
    }
    return;
  }
  // Min-heap of bins with room, keyed (running load, bin index).
  int* heap = ws.heap.data();
  auto lower_priority = [bl](int a, int c) { return bl[a] > bl[c] || (bl[a] == bl[c] && a > c); };
  std::iota(heap, heap + b, 0);  // all loads 0: ascending index is already a valid heap
  int size = b;
  for (int t = 0; t < n; ++t) {
    const int i = order[t];
    std::pop_heap(heap, heap + size, lower_priority);
    const int best = heap[size - 1];
    bin[i] = best;
    pos[i] = bc[best]++;
    bl[best] += load[i];
    if (bc[best] < cap)
      std::push_heap(heap, heap + size, lower_priority);
    else
      --size;
  }
}

// Step 2 within one node: spn slots for epn local experts; the extra slots go one by one to
// the expert with the largest load / count (first maximum).
void replicate(const Shape& s, Workspace& ws) {
  const float* lw = ws.local_load.data();
  int* cnt = ws.local_cnt.data();
  float* ratio = ws.ratio.data();
  for (int i = 0; i < s.epn; ++i) {
    cnt[i] = 1;
    ratio[i] = lw[i];
    ws.slot_expert[i] = i;
    ws.slot_rank[i] = 0;
  }
  auto pick = [&](int slot, int i) {
    ws.slot_expert[slot] = i;
    ws.slot_rank[slot] = cnt[i]++;
    ratio[i] = lw[i] / static_cast<float>(cnt[i]);
  };
  if (s.epn <= kHeapThreshold) {
    for (int slot = s.epn; slot < s.spn; ++slot) {
      int best = 0;
      for (int i = 1; i < s.epn; ++i)
        if (ratio[i] > ratio[best]) best = i;
      pick(slot, best);
    }
    return;
  }
  // Max-heap keyed (ratio, lowest index first).
  int* heap = ws.heap.data();
  auto lower_priority = [ratio](int a, int c) { return ratio[a] < ratio[c] || (ratio[a] == ratio[c] && a > c); };
  std::iota(heap, heap + s.epn, 0);
  std::make_heap(heap, heap + s.epn, lower_priority);
  for (int slot = s.epn; slot < s.spn; ++slot) {
    std::pop_heap(heap, heap + s.epn, lower_priority);
    pick(slot, heap[s.epn - 1]);
    std::push_heap(heap, heap + s.epn, lower_priority);
  }
}

void rebalance_layer(const Shape& s, const float* w, std::int32_t* phy2log, std::int32_t* rank,
                     std::int32_t* logcnt, Workspace& ws) {
  // Step 1: groups to nodes; mlog (node-major) order of the experts.
  for (int g = 0; g < s.G; ++g) {
    float sum = 0.0f;
    for (int j = 0; j < s.gs; ++j) sum += w[g * s.gs + j];
    ws.group_load[g] = sum;
  }
  balanced_packing(ws.group_load.data(), s.G, s.N, ws.group_bin.data(), ws.group_pos.data(), ws);
  for (int g = 0; g < s.G; ++g) {
    const int base = (ws.group_bin[g] * s.gpn + ws.group_pos[g]) * s.gs;
    for (int j = 0; j < s.gs; ++j) ws.mlog2log[base + j] = g * s.gs + j;
  }
  for (int n = 0; n < s.N; ++n) {
    const int* local2log = ws.mlog2log.data() + static_cast<std::size_t>(n) * s.epn;
    // Step 2: replication within the node.
    for (int i = 0; i < s.epn; ++i) ws.local_load[i] = w[local2log[i]];
    replicate(s, ws);
    // Step 3: the node's slots onto its GPUs.
    for (int slot = 0; slot < s.spn; ++slot) {
      const int i = ws.slot_expert[slot];
      ws.slot_load[slot] = ws.local_load[i] / static_cast<float>(ws.local_cnt[i]);
    }
    balanced_packing(ws.slot_load.data(), s.spn, s.gpus_per_node, ws.slot_bin.data(), ws.slot_pos.data(), ws);
    for (int slot = 0; slot < s.spn; ++slot) {
      const int p = n * s.spn + ws.slot_bin[slot] * s.spg + ws.slot_pos[slot];
      phy2log[p] = local2log[ws.slot_expert[slot]];
      rank[p] = ws.slot_rank[slot];
    }
    for (int i = 0; i < s.epn; ++i) logcnt[local2log[i]] = ws.local_cnt[i];
  }
}

Shape resolve_shape(const EplbInput& in, EplbPolicy policy) {
  Shape s{};
  s.L = in.layers;
  s.E = in.experts;
  s.R = in.num_replicas;
  s.P = in.num_gpus;
  const bool hier = policy == EplbPolicy::hierarchical ||
                    (policy == EplbPolicy::automatic && in.num_groups % in.num_nodes == 0);
  s.G = hier ? in.num_groups : 1;
  s.N = hier ? in.num_nodes : 1;
  s.gs = s.E / s.G;
  s.gpn = s.G / s.N;
  s.epn = s.E / s.N;
  s.spn = s.R / s.N;
  s.spg = s.R / s.P;
  s.gpus_per_node = s.P / s.N;
  return s;
}

int json_count(const json& root, const char* key, const std::string& what) {
  const std::string field = fmt::format("field \"{}\"", key);
  auto it = root.find(key);
  if (it == root.end()) throw_bad_input(what, "", field, "missing");
  if (!it->is_number_integer())
    throw_bad_input(what, "", field, fmt::format("expected a positive integer, found {}", it->dump()));
  // Integers too large for int64 parse as unsigned; both are compared without overflow.
  const bool in_range = it->is_number_unsigned() ? it->get<std::uint64_t>() <= kEplbMaxCount
                                                 : it->get<std::int64_t>() >= 1 && it->get<std::int64_t>() <= kEplbMaxCount;
  if (!in_range || it->get<std::int64_t>() < 1)
    throw_bad_input(what, "", field, fmt::format("{} is out of range (1 to {})", it->dump(), kEplbMaxCount));
  return static_cast<int>(it->get<std::int64_t>());
}

}  // namespace

const char* policy_name(EplbPolicy p) {
  switch (p) {
    case EplbPolicy::automatic: return "auto";
    case EplbPolicy::hierarchical: return "hierarchical";
    case EplbPolicy::global: return "global";
  }
  return "auto";
}

EplbPolicy parse_eplb_policy(std::string_view s) {
  if (s == "auto") return EplbPolicy::automatic;
  if (s == "hierarchical") return EplbPolicy::hierarchical;
  if (s == "global") return EplbPolicy::global;
  throw_usage(fmt::format("unknown EPLB policy \"{}\" (auto, hierarchical, global)", s));
}

EplbPolicy check_eplb_input(const EplbInput& in, EplbPolicy policy, const std::string& what) {
  const std::pair<const char*, int> counts[] = {{"layers", in.layers},         {"experts", in.experts},
                                                {"num_replicas", in.num_replicas}, {"num_groups", in.num_groups},
                                                {"num_nodes", in.num_nodes},   {"num_gpus", in.num_gpus}};
  for (const auto& [name, v] : counts)
    if (v < 1) throw Error(ErrorKind::usage, Location{what, "", ""}, fmt::format("{} must be positive, got {}", name, v));
  if (in.weight.size() != static_cast<std::size_t>(in.layers) * static_cast<std::size_t>(in.experts))
    throw Error(ErrorKind::usage, Location{what, "", ""},
                fmt::format("weight has {} values, expected layers x experts = {} x {}", in.weight.size(), in.layers,
                            in.experts));
  for (int l = 0; l < in.layers; ++l)
    for (int e = 0; e < in.experts; ++e) {
      const float v = in.weight[static_cast<std::size_t>(l) * in.experts + e];
      if (!(v >= 0.0f) || !(v <= static_cast<float>(kEplbMaxWeight)))
        throw_bad_input(what, fmt::format("layer {}", l), fmt::format("expert {}", e),
                        fmt::format("weight {} is {}", v, v < 0.0f ? "negative" : std::isnan(v) ? "not a number" : "too large (above 1e30)"));
    }
  const Shape s = resolve_shape(in, policy);
  const bool hier = policy == EplbPolicy::hierarchical ||
                    (policy == EplbPolicy::automatic && in.num_groups % in.num_nodes == 0);
  const std::string tag = hier ? "" : " (global policy: groups = nodes = 1)";
  // EPLB's assertions, in its order, for the G and N actually used.
  if (s.E % s.G != 0) infeasible(what, fmt::format("experts {} is not a multiple of num_groups {}", s.E, s.G));
  if (s.G % s.N != 0) infeasible(what, fmt::format("num_groups {} is not a multiple of num_nodes {}", s.G, s.N));
  if (s.P % s.N != 0) infeasible(what, fmt::format("num_gpus {} is not a multiple of num_nodes {}", s.P, s.N));
  if (s.R % s.P != 0)
    infeasible(what, fmt::format("num_replicas {} is not a multiple of num_gpus {}{}", s.R, s.P, tag));
  if (s.R < s.E) infeasible(what, fmt::format("num_replicas {} is less than experts {}{}", s.R, s.E, tag));
  return hier ? EplbPolicy::hierarchical : EplbPolicy::global;
}

EplbResult rebalance_experts(const EplbInput& in, EplbPolicy policy) {
  const EplbPolicy used = check_eplb_input(in, policy);
  const Shape s = resolve_shape(in, used);
  EplbResult r;
  r.layers = s.L;
  r.experts = s.E;
  r.replicas = s.R;
  r.policy = policy_name(used);
  r.groups_used = s.G;
  r.nodes_used = s.N;
  const std::size_t LR = static_cast<std::size_t>(s.L) * s.R, LE = static_cast<std::size_t>(s.L) * s.E;
  r.phy2log.assign(LR, 0);
  r.logcnt.assign(LE, 0);
  std::vector<std::int32_t> rank(LR, 0);

  const int threads = std::max(1, std::min(omp_get_max_threads(), s.L));
  std::vector<Workspace> ws;
  ws.reserve(threads);
  for (int t = 0; t < threads; ++t) ws.emplace_back(s);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int l = 0; l < s.L; ++l) {
    const std::size_t ol = static_cast<std::size_t>(l);
    rebalance_layer(s, in.weight.data() + ol * s.E, r.phy2log.data() + ol * s.R, rank.data() + ol * s.R,
                    r.logcnt.data() + ol * s.E, ws[omp_get_thread_num()]);
  }

  r.max_logcnt = *std::max_element(r.logcnt.begin(), r.logcnt.end());
  const std::size_t M = r.max_logcnt;
  r.log2phy.assign(LE * M, -1);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
  for (int l = 0; l < s.L; ++l) {
    const std::size_t ol = static_cast<std::size_t>(l);
    std::int32_t* out = r.log2phy.data() + ol * s.E * M;
    for (int p = 0; p < s.R; ++p)
      out[static_cast<std::size_t>(r.phy2log[ol * s.R + p]) * M + rank[ol * s.R + p]] = p;
  }
  return r;
}

json to_json(const EplbResult& r) {
  json phy2log = json::array(), logcnt = json::array(), log2phy = json::array();
  for (int l = 0; l < r.layers; ++l) {
    json row = json::array(), cnt = json::array(), l2p = json::array();
    for (int p = 0; p < r.replicas; ++p) row.push_back(r.phy(l, p));
    for (int e = 0; e < r.experts; ++e) {
      cnt.push_back(r.count(l, e));
      json slots = json::array();
      for (int k = 0; k < r.max_logcnt; ++k) slots.push_back(r.slot(l, e, k));
      l2p.push_back(std::move(slots));
    }
    phy2log.push_back(std::move(row));
    logcnt.push_back(std::move(cnt));
    log2phy.push_back(std::move(l2p));
  }
  return json{{"policy", r.policy}, {"phy2log", std::move(phy2log)}, {"logcnt", std::move(logcnt)},
              {"log2phy", std::move(log2phy)}};
}

EplbInput read_eplb_case(std::string_view bytes, const std::string& what) {
  json root = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    // Parse again with exceptions only to learn where the syntax error is.
    try {
      json again = json::parse(bytes.begin(), bytes.end());
      (void)again;
    } catch (const json::parse_error& e) {
      throw_bad_input(what, "", "", fmt::format("not valid JSON (byte {})", e.byte));
    } catch (const json::exception& e) {
      // e.g. "[json.exception.out_of_range.406] number overflow parsing '1e400'"
      std::string_view m = e.what();
      if (auto k = m.find("] "); k != std::string_view::npos) m.remove_prefix(k + 2);
      throw_bad_input(what, "", "", fmt::format("not valid JSON ({})", m));
    }
    throw_bad_input(what, "", "", "not valid JSON");
  }
  if (!root.is_object())
    throw_bad_input(what, "", "",
                    "expected a JSON object with weight, num_replicas, num_groups, num_nodes, num_gpus");
  EplbInput in;
  in.num_replicas = json_count(root, "num_replicas", what);
  in.num_groups = json_count(root, "num_groups", what);
  in.num_nodes = json_count(root, "num_nodes", what);
  in.num_gpus = json_count(root, "num_gpus", what);

  const std::string wfield = "field \"weight\"";
  auto wit = root.find("weight");
  if (wit == root.end()) throw_bad_input(what, "", wfield, "missing");
  const json& w = *wit;
  if (!w.is_array()) throw_bad_input(what, "", wfield, "expected a [layers][experts] list of lists of numbers");
  if (w.empty()) throw_bad_input(what, "", wfield, "zero layers");
  if (w.size() > static_cast<std::size_t>(kEplbMaxCount))
    throw_bad_input(what, "", wfield, fmt::format("{} layers is above the limit {}", w.size(), kEplbMaxCount));
  auto row_field = [](std::size_t l) { return fmt::format("field \"weight[{}]\" (layer {})", l, l); };
  for (std::size_t l = 0; l < w.size(); ++l) {
    if (!w[l].is_array()) throw_bad_input(what, "", row_field(l), fmt::format("expected a list of numbers, found {}", w[l].type_name()));
    if (w[l].empty()) throw_bad_input(what, "", row_field(l), "zero experts");
    if (w[l].size() != w[0].size())
      throw_bad_input(what, "", row_field(l),
                      fmt::format("expected {} numbers (the length of row 0), found {}", w[0].size(), w[l].size()));
  }
  if (w[0].size() > static_cast<std::size_t>(kEplbMaxCount))
    throw_bad_input(what, "", wfield, fmt::format("{} experts is above the limit {}", w[0].size(), kEplbMaxCount));
  in.layers = static_cast<int>(w.size());
  in.experts = static_cast<int>(w[0].size());
  // Output sizes, before anything is allocated for them.
  const std::int64_t slots = std::int64_t{in.layers} * in.num_replicas;
  if (slots > kEplbMaxSlots)
    throw_bad_input(what, "", "field \"num_replicas\"",
                    fmt::format("layers x num_replicas = {} x {} is above the limit {}", in.layers, in.num_replicas,
                                kEplbMaxSlots));
  if (in.num_replicas >= in.experts) {
    const std::int64_t worst = std::int64_t{in.layers} * in.experts * (in.num_replicas - in.experts + 1);
    if (worst > kEplbMaxLog2phy)
      throw_bad_input(what, "", "field \"num_replicas\"",
                      fmt::format("layers x experts x (num_replicas - experts + 1) = {} is above the limit {} "
                                  "(the largest log2phy)",
                                  worst, kEplbMaxLog2phy));
  }
  in.weight.resize(static_cast<std::size_t>(in.layers) * in.experts);
  for (std::size_t l = 0; l < w.size(); ++l) {
    for (std::size_t e = 0; e < w[l].size(); ++e) {
      const json& v = w[l][e];
      auto bad = [&](const std::string& msg) {
        throw_bad_input(what, "", fmt::format("field \"weight[{}][{}]\" (layer {}, expert {})", l, e, l, e), msg);
      };
      float f = 0.0f;
      if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (static_cast<double>(u) > kEplbMaxWeight) bad(fmt::format("{} is too large (above 1e30)", u));
        f = static_cast<float>(u);
      } else if (v.is_number_integer()) {
        const auto i = v.get<std::int64_t>();
        if (i < 0) bad(fmt::format("{} is negative", i));
        f = static_cast<float>(i);
      } else if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::isnan(d)) bad("not a number");
        if (d < 0) bad(fmt::format("{} is negative", v.dump()));
        if (!(d <= kEplbMaxWeight)) bad(fmt::format("{} is too large (above 1e30)", v.dump()));
        f = static_cast<float>(d);
      } else {
        bad(fmt::format("expected a non-negative number, found {}", v.type_name()));
      }
      in.weight[l * in.experts + e] = f;
    }
  }
  return in;
}

Placement eplb_placement(const ExpertLoads& loads, const Cluster& c, EplbPolicy policy, int groups) {
  if (loads.layers < 1 || loads.experts < 1 ||
      loads.load.size() != static_cast<std::size_t>(loads.layers) * static_cast<std::size_t>(loads.experts))
    throw Error(ErrorKind::usage, {}, fmt::format("eplb: loads hold {} values for {} layers x {} experts",
                                                  loads.load.size(), loads.layers, loads.experts));
  EplbInput in;
  in.layers = loads.layers;
  in.experts = loads.experts;
  in.num_replicas = c.slots();
  in.num_gpus = c.gpus();
  in.num_nodes = c.nodes;
  in.num_groups = groups > 0 ? groups : c.nodes;
  in.weight.resize(loads.load.size());
  for (std::size_t i = 0; i < loads.load.size(); ++i) {
    const double d = loads.load[i];
    // Out-of-range doubles would not survive float32: reject them as the case parser does.
    if (!(d >= 0) || !(d <= kEplbMaxWeight)) {
      const int l = static_cast<int>(i / loads.experts), e = static_cast<int>(i % loads.experts);
      throw Error(ErrorKind::bad_input, Location{"", fmt::format("layer {}", l), fmt::format("expert {}", e)},
                  fmt::format("load {} is {}", d, d < 0 ? "negative" : std::isnan(d) ? "not a number" : "too large (above 1e30)"));
    }
    in.weight[i] = static_cast<float>(d);
  }
  EplbResult r = rebalance_experts(in, policy);
  Placement p = Placement::empty(c, loads.experts, loads.layers, "eplb");
  std::copy(r.phy2log.begin(), r.phy2log.end(), p.slot_expert.begin());
  p.provenance = json{{"policy", r.policy},
                      {"policy_requested", policy_name(policy)},
                      {"groups", r.groups_used},
                      {"nodes", r.nodes_used},
                      {"groups_given", in.num_groups},
                      {"max_replicas", r.max_logcnt},
                      {"reference", "DeepSeek EPLB eplb.py rebalance_experts (float32, stable sort)"}};
  return p;
}

}  // namespace moeplan::placement
