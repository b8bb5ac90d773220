#include "moeplan/perf/roofline.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "moeplan/io/error.hpp"

namespace moeplan::perf {

Efficiency Efficiency::defaults() {
  // Uncalibrated first guesses (typical of published kernel studies); calibration on the
  // dense silicon rows replaces them in a later milestone.
  Efficiency e;
  e.gemm = 0.74;
  e.gemm_m_half = 97;
  e.attention = 0.5;
  e.mem_bw = 1.0;  // the hardware's own empirical factor (0.8 in AIConfigurator files) applies
  e.comm_bw = 0.8;
  e.kernel_overhead_s = 7e-6;
  e.step_overhead_s = 0;
  return e;
}

Efficiency Efficiency::genz() {
  Efficiency e;
  e.use_hw_mem_factor = false;
  e.causal_prefill = false;
  e.lm_head_all_tokens = true;
  e.embedding_as_gemm = true;
  e.decode_at_final_context = true;
  e.elementwise_ops = false;
  e.runtime_reserve = false;
  return e;
}

DType compute_dtype(DType w, DType a) { return dtype_bytes(w) > dtype_bytes(a) ? w : a; }

Device make_device(const Hardware& hw, const Efficiency& eff, DType compute) {
  Device d;
  d.flops_per_s = hw.flops_per_s(compute);
  d.mem_bytes_per_s = hw.mem_bw_bytes_per_s * eff.mem_bw * (eff.use_hw_mem_factor ? hw.mem_bw_empirical_fraction : 1.0);
  d.mem_latency_s = eff.use_hw_mem_factor ? hw.mem_op_latency_s : 0.0;
  d.overhead_s = eff.kernel_overhead_s;
  d.gemm_m_half = eff.gemm_m_half;
  return d;
}

OpCost op_cost(const Device& d, double flops, double bytes, double compute_eff) {
  OpCost c;
  c.flops = flops;
  c.bytes = bytes;
  double compute = flops / (d.flops_per_s * compute_eff);
  double memory = bytes / d.mem_bytes_per_s;
  // The memory-op latency applies only when the operator is memory-bound.
  c.time_s = (memory >= compute ? memory + d.mem_latency_s : compute) + d.overhead_s;
  return c;
}

OpCost gemm_cost(const Device& d, double m, double k, double n, double w_bytes, double a_bytes, double compute_eff) {
  if (m <= 0 || k <= 0 || n <= 0) return {};
  return op_cost(d, 2 * m * k * n, k * n * w_bytes + (m * k + m * n) * a_bytes, compute_eff * m / (m + d.gemm_m_half));
}

OpCost grouped_gemm_cost(const Device& d, double m, double groups, double k, double n, double w_bytes, double a_bytes,
                         double compute_eff) {
  if (m <= 0 || groups <= 0 || k <= 0 || n <= 0) return {};
  return op_cost(d, 2 * m * k * n, groups * k * n * w_bytes + (m * k + m * n) * a_bytes,
                 compute_eff * m / (m + d.gemm_m_half));
}

double all_reduce_s(double bytes, int n, double bw, double start_s, double hop_s) {
  if (n <= 1) return 0;
  return start_s + 2.0 * (n - 1) * hop_s + 2.0 * (n - 1) / n * bytes / bw;
}

double tree_all_reduce_s(double bytes, int n, double bw, double start_s, double hop_s) {
  if (n <= 1) return 0;
  return start_s + 2.0 * std::ceil(std::log2(static_cast<double>(n))) * hop_s + 2.0 * bytes / bw;
}

std::optional<Efficiency::AllReduce> parse_all_reduce(std::string_view name) {
  using A = Efficiency::AllReduce;
  for (A a : {A::ring, A::tree, A::best})
    if (name == all_reduce_name(a)) return a;
  return std::nullopt;
}

const char* all_reduce_name(Efficiency::AllReduce a) {
  return a == Efficiency::AllReduce::tree ? "tree" : a == Efficiency::AllReduce::best ? "best" : "ring";
}

double all_gather_s(double bytes, int n, double bw, double start_s, double hop_s) {
  if (n <= 1) return 0;
  return start_s + (n - 1.0) * hop_s + (n - 1.0) / n * bytes / bw;
}

double all_to_all_s(double bytes, int n, double bw, double start_s, double hop_s) {
  return all_gather_s(bytes, n, bw, start_s, hop_s);
}

AllToAllBytes ep_dispatch_bytes(double tokens, double token_bytes, double k, int n, int per_node, bool node_dedup) {
  AllToAllBytes b;
  if (n <= 1 || tokens <= 0) return b;
  const double g = std::min(per_node, n);
  const double copies = tokens * k * token_bytes;  // one per (token, expert)
  b.intra = copies * (g - 1) / n;
  if (n <= per_node) return b;
  const double remote = copies * (n - g) / n;
  if (!node_dedup) {
    b.inter = remote;
    return b;
  }
  const double nodes = static_cast<double>(n) / g;
  b.inter = tokens * token_bytes * (nodes - 1) * (1 - std::pow(1 - 1 / nodes, k));
  b.intra += remote * (g - 1) / g;  // forwarded from the receiving GPU to the experts' GPUs
  return b;
}

AllToAllBytes ep_dispatch_bytes(double tokens, double token_bytes, const EpTraffic& t, bool node_dedup) {
  const double per_send = tokens * token_bytes;
  return node_dedup ? AllToAllBytes{per_send * t.intra_dedup, per_send * t.inter_dedup}
                    : AllToAllBytes{per_send * t.intra_copies, per_send * t.inter_copies};
}

double ep_all_to_all_s(const AllToAllBytes& b, int n, double intra_bw, double inter_bw, double start_s, double hop_s) {
  if (n <= 1) return 0;
  return start_s + (n - 1.0) * hop_s + std::max(b.intra / intra_bw, b.inter > 0 ? b.inter / inter_bw : 0.0);
}

double mesh_all_to_all_transfer_s(double bytes, int n, int rows, int cols, double link_bw) {
  if (n <= 1 || bytes <= 0) return 0;
  const double dn = n;
  const double cut = dn * dn * bytes / (4 * (dn - 1)) / (std::min(rows, cols) * link_bw);
  return std::max(cut, bytes / (4 * link_bw));
}

std::pair<int, int> sub_mesh(int n, int rows, int cols) {
  const int lo = std::min(rows, cols), hi = std::max(rows, cols);
  if (n >= lo * hi) return {lo, hi};
  for (int r = static_cast<int>(std::sqrt(static_cast<double>(n))); r >= 1; --r)
    if (n % r == 0 && r <= lo && n / r <= hi) return {r, n / r};
  int r = std::min(lo, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))));
  int c = (n + r - 1) / r;
  if (c > hi) {
    c = hi;
    r = (n + hi - 1) / hi;
  }
  return {r, c};
}

double expected_distinct_experts(double e, double k, double tokens) {
  if (e <= 0 || tokens <= 0) return 0;
  if (k >= e) return e;
  return e * (1.0 - std::pow(1.0 - k / e, tokens));
}

double expected_max_std_normal(double n) {
  // E[max of n iid N(0,1)] at n = 1, 2, 4, ..., 4096 (numerical integration of
  // x n phi(x) Phi(x)^(n-1)); linear in log2 n between them.
  static constexpr double kTable[] = {0.0,    0.5642, 1.0294, 1.4236, 1.7660, 2.0697, 2.3437,
                                      2.5946, 2.8269, 3.0439, 3.2482, 3.4418, 3.6261};
  constexpr int kLast = static_cast<int>(sizeof(kTable) / sizeof(kTable[0])) - 1;
  if (n <= 1) return 0;
  const double l = std::log2(n);
  if (l >= kLast) return kTable[kLast] + (l - kLast) * (kTable[kLast] - kTable[kLast - 1]);
  const int i = static_cast<int>(l);
  return kTable[i] + (l - i) * (kTable[i + 1] - kTable[i]);
}

double busiest_of(double mean, double var, double groups, double cap) {
  if (groups <= 1 || mean <= 0) return std::min(mean, cap);
  return std::min(cap, mean + expected_max_std_normal(groups) * std::sqrt(std::max(0.0, var)));
}

double load_imbalance(std::span<const double> load) {
  if (load.empty()) throw_usage("the per-GPU expert load vector is empty");
  double sum = 0, top = 0;
  for (std::size_t i = 0; i < load.size(); ++i) {
    if (!std::isfinite(load[i]) || load[i] < 0)
      throw_usage(fmt::format("per-GPU expert load {} (GPU {}) must be a finite number >= 0", load[i], i));
    sum += load[i];
    top = std::max(top, load[i]);
  }
  if (sum <= 0) throw_usage("the per-GPU expert loads sum to 0");
  return top / (sum / static_cast<double>(load.size()));
}

double attended_keys(double past, double q, double window, bool causal) {
  if (q <= 0) return 0;
  if (!causal) {
    double keys = past + q;
    if (window > 0) keys = std::min(keys, window);
    return q * keys;
  }
  double a = past + 1, b = past + q;  // keys seen by the first and the last query
  if (window <= 0 || window >= b) return (a + b) * q / 2;
  if (window <= a) return window * q;
  return (a + window) * (window - a + 1) / 2 + (b - window) * window;
}

}  // namespace moeplan::perf
