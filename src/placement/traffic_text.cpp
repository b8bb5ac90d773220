// The human-readable summary of `moeplan traffic` (docs/traffic.md).
#include <fmt/format.h>

#include <string>

#include "moeplan/placement/traffic.hpp"

namespace moeplan::placement {
namespace {

std::string human_bytes(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (b >= 1000 && u < 5) b /= 1000, ++u;
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.2f} {}", b, unit[u]);
}

double per(std::uint64_t a, std::uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0; }

}  // namespace

std::string summary_text(const TrafficReport& r) {
  const TrafficTotals& t = r.total;
  const auto& mb = r.bytes;
  const double msg = mb ? mb->dispatch + mb->combine : 0;
  std::string s;
  auto line = [&s](const std::string& x) { s += x + "\n"; };
  line(fmt::format("cluster: {} nodes x {} GPUs, {} slots per GPU; {} MoE layers, top-{}; {} token-layers",
                   r.cluster.nodes, r.cluster.gpus_per_node, r.cluster.slots_per_gpu, r.layers, r.top_k, t.token_layers));
  if (mb)
    line(fmt::format("bytes per token: dispatch {:.0f} B, combine {:.0f} B (each send counts both)", mb->dispatch,
                     mb->combine));
  else
    line("note: bytes omitted (no --model or --hidden-size); the table counts token sends");
  line("");
  line(fmt::format("{:<22} {:>14} {:>16}{}", "sends (dispatch)", "count", "per token-layer", mb ? "  bytes (dispatch+combine)" : ""));
  auto row = [&](const char* name, std::uint64_t n) {
    line(fmt::format("{:<22} {:>14} {:>16.4f}{}", name, n, per(n, t.token_layers),
                     mb ? "  " + human_bytes(static_cast<double>(n) * msg) : std::string()));
  };
  line("node dedup (DeepEP normal)");
  row("  inter-node", t.inter_node_dedup);
  row("  intra-node", t.intra_node_dedup);
  row("  on the home GPU", t.intra_gpu_dedup);
  line("per expert");
  row("  inter-node", t.sends_inter_node);
  row("  intra-node", t.sends_intra_node);
  row("  on the home GPU", t.sends_intra_gpu);
  line(fmt::format("padded all-to-all: {} sends ({:.2f} x the {} off-GPU per-expert sends){}", t.padded_sends,
                   per(t.padded_sends, t.sends_off_gpu()), t.sends_off_gpu(),
                   mb ? ", " + human_bytes(static_cast<double>(t.padded_sends) * msg) : std::string()));
  line(fmt::format("GPU expert load max/mean: {:.4f} (busiest GPU's tokens summed over layers / mean's)",
                   r.gpu_load_max_over_mean()));
  if (!r.gpu_nic_send_tokens.empty()) {
    const int g = r.busiest_nic();
    const auto out = r.gpu_nic_send_tokens[static_cast<std::size_t>(g)], in = r.gpu_nic_recv_tokens[static_cast<std::size_t>(g)];
    if (mb)
      line(fmt::format("busiest NIC: GPU {} (node {}): sends {}, receives {} ({} / {} dispatch tokens)", g,
                       r.cluster.node_of_gpu(g),
                       human_bytes(static_cast<double>(out) * mb->dispatch + static_cast<double>(in) * mb->combine),
                       human_bytes(static_cast<double>(in) * mb->dispatch + static_cast<double>(out) * mb->combine), out, in));
    else
      line(fmt::format("busiest NIC: GPU {} (node {}): {} dispatch tokens out, {} in", g, r.cluster.node_of_gpu(g), out, in));
  }
  line("");
  line(fmt::format("{:>5} {:>12} {:>12} {:>12} {:>12} {:>14}", "layer", "inter/tl", "inter-exp/tl", "intra/tl",
                   "load max/mean", "padded sends"));
  for (std::size_t l = 0; l < r.per_layer.size(); ++l) {
    const TrafficTotals& x = r.per_layer[l];
    line(fmt::format("{:>5} {:>12.4f} {:>12.4f} {:>12.4f} {:>12.4f} {:>14}", l, per(x.inter_node_dedup, x.token_layers),
                     per(x.sends_inter_node, x.token_layers), per(x.intra_node_dedup, x.token_layers),
                     x.gpu_load_mean > 0 ? static_cast<double>(x.gpu_load_max) / x.gpu_load_mean : 0.0,
                     x.padded_sends));
  }
  return s;
}

}  // namespace moeplan::placement
