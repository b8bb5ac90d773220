// moeplan traffic: exact all-to-all accounting of a trace under a placement (docs/traffic.md).
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/model_bytes.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/placement/traffic.hpp"

namespace moeplan::cli {

void register_traffic(CLI::App& app) {
  struct Opts {
    TraceInputs in;
    std::string placement, homes, out;
    ModelBytesOptions bytes;
    bool json = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "traffic", "Exact all-to-all traffic of a trace under a placement: intra-GPU / intra-node / inter-node "
                 "sends and bytes (per expert and node-deduplicated), padded volume, NIC and expert load");
  o->in.add_to(cmd);
  cmd->add_option("--placement", o->placement, "Placement file (moeplan placement JSON, docs/placement.md)")->required();
  cmd->add_option("--homes", o->homes,
                  "Homes file {\"homes\": {\"<request id>\": gpu}} (default: round-robin over requests in trace order)");
  o->bytes.add_to(cmd);
  cmd->add_flag("--json", o->json, "Print JSON (docs/traffic.md)");
  cmd->add_option("-o,--output", o->out, "Also write the JSON report to this file (atomically)");
  cmd->add_option("--threads", o->threads, "Threads (default: OpenMP's default)")->check(CLI::Range(1, 1024));
  cmd->callback([o] {
    const auto message_bytes = o->bytes.resolve().message;

    trace::TraceSet set = o->in.load();
    placement::Placement p = placement::read_placement(o->placement);
    const std::string traces = o->in.paths.size() == 1 ? o->in.paths[0] : "the traces";
    if (p.layers != set.model.moe_layers())
      throw_bad_input(o->placement, "", "layers",
                      "the placement has " + std::to_string(p.layers) + " MoE layers, " + traces + " has " +
                          std::to_string(set.model.moe_layers()));
    if (p.num_experts != set.model.num_experts)
      throw_bad_input(o->placement, "", "experts",
                      "the placement has " + std::to_string(p.num_experts) + " experts per layer, " + traces + " has " +
                          std::to_string(set.model.num_experts));
    placement::Homes homes = o->homes.empty() ? placement::round_robin_homes(set, p.cluster)
                                              : placement::read_homes(o->homes, set, p.cluster);
    placement::TrafficOptions opt;
    opt.threads = o->threads;
    opt.bytes = message_bytes;
    placement::TrafficReport r = placement::account_traffic(set, p, homes, opt);
    nlohmann::json j;
    if (o->json || !o->out.empty()) j = placement::to_json(r);
    if (!o->out.empty()) write_json_file(o->out, j);
    if (o->json) print_json(j);
    else std::cout << placement::summary_text(r);
  });
}

}  // namespace moeplan::cli
