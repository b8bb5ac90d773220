// moeplan::perf — the pricing primitives: one operator on one device (roofline), the
// collectives, and the efficiency assumptions they take. Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "moeplan/perf/dtype.hpp"
#include "moeplan/perf/hardware.hpp"

namespace moeplan::perf {

// How far real kernels fall short of the peaks, and which modelling conventions to follow.
// `defaults()` is moeplan's (uncalibrated) view; `genz()` reproduces the GenZ LLM Analyzer's
// assumptions so its published estimates can be cross-checked (docs/perf-model.md).
struct Efficiency {
  double gemm = 1;               // achieved / peak FLOP/s for large GEMMs (the plateau)
  // GEMM efficiency ramps with the rows (tokens) M of the GEMM: gemm x M / (M + gemm_m_half),
  // i.e. a GEMM computes as if it had gemm_m_half more rows (tile padding, idle SMs). Grouped
  // expert GEMMs apply it per expert (M = tokens per expert). 0: no ramp (GenZ).
  double gemm_m_half = 0;
  double attention = 1;          // achieved / peak FLOP/s for attention cores
  double mem_bw = 1;             // achieved / peak memory bandwidth (times the hardware's own factor)
  bool use_hw_mem_factor = true; // apply Hardware::mem_bw_empirical_fraction and mem_op_latency_s
  double comm_bw = 1;            // achieved / peak link bandwidth
  double kernel_overhead_s = 0;  // added to every operator (eager launches: prefill)
  // Per-operator overhead of decode tokens, which engines replay from captured CUDA graphs
  // (launch cost mostly hidden). < 0: same as kernel_overhead_s. A step's operators pay the
  // token-weighted mean of the two (decode tokens / all tokens of the step).
  double decode_kernel_overhead_s = -1;
  double step_overhead_s = 0;    // added to every forward step (scheduler, launch)
  // Host work per sequence in the step on one attention-DP rank (scheduler bookkeeping,
  // sampling, detokenisation): grows with the batch, unlike step_overhead_s.
  double seq_overhead_s = 0;
  // Software latency added to every ring step of a collective (NCCL launched eagerly, without
  // CUDA graphs, on top of the hardware's hop latency): all-reduce pays 2(n-1) of it.
  double comm_hop_overhead_s = 0;
  // All-reduces of at least comm_large_bytes (the whole tensor) run at comm_bw_large instead of
  // comm_bw: an empirical size step for stacks whose large collectives are slower (fitted for
  // the splitwise-2024 entries only). 0: one bandwidth for every size.
  double comm_large_bytes = 0;
  double comm_bw_large = 1;
  // Multiplier on the elementwise traffic (norms, residual adds: 8 x T x H x activation bytes
  // per layer). Unfused eager stacks (separate fp32 kernels for each norm, bias, activation and
  // add, replicated over TP) move several times more.
  double elementwise_factor = 1;
  // Busiest GPU's expert load / mean load: measured from a routing trace (--routing), or an
  // extra factor on top of the binomial spread of uniform routing (busiest_of); 1 = uniform.
  double moe_imbalance = 1;
  // moe_imbalance was measured on the busiest GPU itself (a trace, or a per-GPU load vector:
  // load_imbalance()), so it replaces the binomial spread instead of adding to it.
  bool moe_imbalance_measured = false;
  // Expert-parallel all-to-all deduplicated per node (DeepEP-style) instead of one send per
  // (token, remote expert); see ep_dispatch_bytes().
  bool a2a_node_dedup = false;
  // Share of each layer's collectives hidden behind the layer's compute (two micro-batches
  // interleaved so one communicates while the other computes, as SGLang's two-batch overlap
  // and DeepSeek's DualPipe do): a layer costs compute + comm - overlap x min(compute, comm).
  // 0: none; 1: max(compute, comm).
  double comm_overlap = 0;
  // All-reduce algorithm: a ring (bandwidth-optimal, 2(n-1) steps), a (double binary) tree
  // (2 log2 n steps, each phase moving the whole message), or for each message the faster of
  // the two, as NCCL's tuner picks. See tree_all_reduce_s().
  enum class AllReduce : std::uint8_t { ring, tree, best };
  AllReduce all_reduce = AllReduce::ring;
  bool causal_prefill = true;    // prefill attention skips masked-out keys (GenZ: false)
  bool lm_head_all_tokens = false;   // LM head over every prompt token (GenZ: true)
  bool embedding_as_gemm = false;    // GenZ: embedding = T x V x H GEMM in prefill, free in decode
  bool decode_at_final_context = false;  // TPOT priced at input+output context (GenZ) vs the mean
  bool elementwise_ops = true;   // norms / residual adds as memory traffic (GenZ: none)
  bool runtime_reserve = true;   // reserve other_mem + NCCL buffers and activations in memory

  static Efficiency defaults();
  static Efficiency genz();
};

// Time of one operator: max(compute, memory) plus fixed costs.
struct OpCost {
  double flops = 0;
  double bytes = 0;
  double time_s = 0;
};

struct Device {
  double flops_per_s = 0;      // for the compute dtype, before efficiency
  double mem_bytes_per_s = 0;  // effective
  double mem_latency_s = 0;    // per memory-bound operator
  double overhead_s = 0;       // per operator
  double gemm_m_half = 0;      // rows at which a GEMM reaches half its plateau efficiency
};
Device make_device(const Hardware& hw, const Efficiency& eff, DType compute);
// The wider of the weight and activation formats does the arithmetic (W4A16 runs in bf16,
// W8A8 in fp8).
DType compute_dtype(DType weights, DType activations);

// A roofline operator: flops at `compute_eff` of peak, bytes at the effective bandwidth.
OpCost op_cost(const Device& d, double flops, double bytes, double compute_eff);

// A GEMM [m x k] x [k x n]: 2mkn FLOPs; reads weights (k*n at w_bytes) and input, writes output.
// Compute runs at compute_eff x m / (m + d.gemm_m_half) of the peak.
OpCost gemm_cost(const Device& d, double m, double k, double n, double w_bytes, double a_bytes, double compute_eff);

// A grouped GEMM: `groups` experts sharing `m` rows in all, each [m/groups x k] x [k x n] with
// its own weights (read once each): 2mkn FLOPs at compute_eff x m / (m + d.gemm_m_half). One
// launch fills the GPU with every expert's tiles, so the ramp sees all m rows. (A ramp per
// expert, m / groups rows each, made 4-bit expert GEMMs computed in bf16 2-3x too slow on the
// silicon rows: docs/validation.md.)
OpCost grouped_gemm_cost(const Device& d, double m, double groups, double k, double n, double w_bytes, double a_bytes,
                         double compute_eff);

// Collectives over `n` devices of `bytes` (the full tensor), at link bandwidth `bw` (B/s):
//   all-reduce (ring):  start + 2(n-1) hop + 2(n-1)/n * bytes / bw
//   all-gather:         start +  (n-1) hop +  (n-1)/n * bytes / bw
//   all-to-all:         start +  (n-1) hop +  (n-1)/n * bytes / bw
// n <= 1 costs nothing.
double all_reduce_s(double bytes, int n, double bw, double start_s, double hop_s);
//   all-reduce (tree):  start + 2 ceil(log2 n) hop + 2 * bytes / bw
// (reduce up and broadcast down a binary tree, pipelined in chunks; NCCL's two trees each carry
// half the message, so every link moves it once per phase.)
double tree_all_reduce_s(double bytes, int n, double bw, double start_s, double hop_s);
// "ring", "tree", "best" <-> Efficiency::AllReduce (nullopt for another name).
std::optional<Efficiency::AllReduce> parse_all_reduce(std::string_view name);
const char* all_reduce_name(Efficiency::AllReduce a);
double all_gather_s(double bytes, int n, double bw, double start_s, double hop_s);
double all_to_all_s(double bytes, int n, double bw, double start_s, double hop_s);

// Expert-parallel dispatch (or combine) over `n` GPUs in nodes of `per_node`: each GPU sends
// `tokens` tokens of `token_bytes` to the GPUs holding their `k` experts (uniform over the n).
// Per-expert sends put (per_node - 1)/n of the k copies on NVLink and (n - per_node)/n on the
// NICs; with node dedup a token crosses to each remote node once and is forwarded there over
// NVLink (expected remote nodes (N - 1)(1 - (1 - 1/N)^k), N = n / per_node). Both link kinds
// run at once: start + (n - 1) hop + max(intra bytes / intra_bw, inter bytes / inter_bw).
struct AllToAllBytes {
  double intra = 0;  // per GPU over NVLink
  double inter = 0;  // per GPU over the NICs
};
AllToAllBytes ep_dispatch_bytes(double tokens, double token_bytes, double k, int n, int per_node, bool node_dedup);
double ep_all_to_all_s(const AllToAllBytes& b, int n, double intra_bw, double inter_bw, double start_s, double hop_s);

// All-to-all among n dies occupying an r x c region of a 2-D mesh (neighbour links of link_bw
// each way; a wafer): every die sends `bytes` spread uniformly over the other n - 1. The cut
// across the longer side (min(r, c) links each way) carries n^2 x bytes / (4 (n - 1)) per
// direction, and a die injects over at most 4 links, so the transfer takes
//   max(n^2 x bytes / (4 (n - 1) min(r, c) link_bw), bytes / (4 link_bw));
// the MoE layer adds the collective start and (r + c)/3 hops (the mean Manhattan distance).
double mesh_all_to_all_transfer_s(double bytes, int n, int rows, int cols, double link_bw);
// The r x c region n dies of a rows x cols mesh occupy: the most square exact rectangle that
// fits, else the most square region that holds them (32 dies of a 6 x 6 wafer: 6 x 6).
std::pair<int, int> sub_mesh(int n, int rows, int cols);

// Expert-parallel traffic measured on a routing trace under a placement (`moeplan traffic`):
// sends per token and MoE layer, replacing the uniform shares above.
struct EpTraffic {
  double intra_copies = 0;  // per-expert sends to another GPU of the home node
  double inter_copies = 0;  // per-expert sends to another node
  double intra_dedup = 0;   // node dedup: NVLink sends (forwards on the remote nodes included)
  double inter_dedup = 0;   // node dedup: sends to distinct remote nodes
  // Per MoE layer of the trace, the busiest GPU's expert load over the mean; when given, each
  // MoE layer is priced at each of these and the mean taken (else Efficiency::moe_imbalance).
  std::vector<double> layer_imbalance;
};
AllToAllBytes ep_dispatch_bytes(double tokens, double token_bytes, const EpTraffic& t, bool node_dedup);

// Expected number of distinct experts hit when `tokens` tokens each pick `k` of `e` experts
// uniformly: e * (1 - (1 - k/e)^tokens).
double expected_distinct_experts(double e, double k, double tokens);

// Expected maximum of n independent standard normal variables (0 at n <= 1; 1.4236 at 8).
double expected_max_std_normal(double n);

// The busiest of `groups` equal shares whose load has mean `mean` and variance `var` each
// (normal approximation: mean + E[max of groups normals] x sd), at most `cap`.
double busiest_of(double mean, double var, double groups, double cap);

// The busiest GPU's load over the mean of an explicit per-GPU expert load vector (tokens, or
// any relative unit; one entry per expert-parallel rank). Throws Error{usage} when it is
// empty, has a negative or non-finite entry, or sums to 0.
double load_imbalance(std::span<const double> per_gpu_load);

// Keys attended, summed over `q` new queries after `past` cached tokens: causal
// sum_{i=1..q} min(past + i, window), or q * min(past + q, window) without the mask.
// window <= 0: unlimited.
double attended_keys(double past, double q, double window, bool causal);

}  // namespace moeplan::perf
