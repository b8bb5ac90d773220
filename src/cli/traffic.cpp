// moeplan traffic: exact all-to-all accounting of a trace under a placement (docs/traffic.md).
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/perf/zoo.hpp"
#include "moeplan/placement/traffic.hpp"

namespace moeplan::cli {

void register_traffic(CLI::App& app) {
  struct Opts {
    TraceInputs in;
    std::string placement, homes, model, dispatch_dtype = "fp8", combine_dtype = "bf16", out;
    std::optional<std::int64_t> hidden;
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
  cmd->add_option("--model", o->model,
                  "Model for the hidden size: zoo name (deepseek-v3, ...), HF id or config.json path");
  cmd->add_option("--hidden-size", o->hidden, "Hidden size (elements per token), instead of --model")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24));
  cmd->add_option("--dispatch-dtype", o->dispatch_dtype, "Dispatch message format (fp8 adds one fp32 scale per 128 elements)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp8", "bf16", "fp16", "fp32"}));
  cmd->add_option("--combine-dtype", o->combine_dtype, "Combine message format")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp8", "bf16", "fp16", "fp32"}));
  cmd->add_flag("--json", o->json, "Print JSON (docs/traffic.md)");
  cmd->add_option("-o,--output", o->out, "Also write the JSON report to this file (atomically)");
  cmd->add_option("--threads", o->threads, "Threads (default: OpenMP's default)")->check(CLI::Range(1, 1024));
  cmd->callback([o] {
    if (o->hidden && !o->model.empty()) throw Error(ErrorKind::usage, {}, "--model and --hidden-size exclude each other");
    std::optional<std::int64_t> hidden = o->hidden;
    if (!o->model.empty()) hidden = perf::load_model(o->model).hidden;

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
    if (hidden)
      opt.bytes = placement::MessageBytes{placement::token_bytes(*hidden, o->dispatch_dtype),
                                          placement::token_bytes(*hidden, o->combine_dtype)};
    placement::TrafficReport r = placement::account_traffic(set, p, homes, opt);
    nlohmann::json j;
    if (o->json || !o->out.empty()) j = placement::to_json(r);
    if (!o->out.empty()) write_json_file(o->out, j);
    if (o->json) print_json(j);
    else std::cout << placement::summary_text(r);
  });
}

}  // namespace moeplan::cli
