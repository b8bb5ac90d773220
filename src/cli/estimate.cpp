// moeplan estimate: latency, throughput and memory of one model x hardware x layout.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/perf/calibration.hpp"
#include "moeplan/perf/estimate.hpp"
#include "moeplan/perf/serving.hpp"
#include "moeplan/perf/speculative.hpp"
#include "moeplan/perf/zoo.hpp"
#include "moeplan/placement/basic.hpp"
#include "moeplan/placement/traffic.hpp"

namespace moeplan::cli {

namespace {

perf::DType dtype_option(const std::string& s, const char* opt) {
  auto t = perf::parse_dtype(s);
  if (!t) throw_usage(fmt::format("{}: unknown format \"{}\" (bf16, fp16, fp8, int8, int4, fp4)", opt, s));
  return *t;
}

// Expert load and all-to-all sends measured on a routing trace for the layout's ep GPUs (the
// placement given, else contiguous; requests homed round-robin): the busiest GPU's share per
// layer (mean over layers) becomes the imbalance, the sends per token the all-to-all bytes.
struct MeasuredRouting {
  double imbalance = 1;
  perf::EpTraffic traffic;
  std::string note;
};

MeasuredRouting measure_routing(const std::vector<std::string>& paths, const std::string& placement_path,
                                const perf::ModelSpec& model, const perf::Hardware& hw, int ep) {
  if (!model.is_moe()) throw_usage("--routing needs a MoE model; " + model.name + " has no experts");
  trace::ImportOptions io;
  io.progress = stderr_progress("reading", false, /*bytes=*/true);
  const trace::TraceSet set = trace::import_traces(paths, io);
  const std::string traces = paths.size() == 1 ? paths[0] : "the traces";
  if (set.model.num_experts != model.experts || set.model.top_k != model.top_k)
    throw_usage(fmt::format("{} routes top-{} of {} experts, {} top-{} of {}", traces, set.model.top_k,
                            set.model.num_experts, model.name, model.top_k, model.experts));
  const int per_node = std::min(hw.gpus_per_node, ep);
  if (ep % per_node != 0) throw_usage(fmt::format("--routing: ep {} is not whole nodes of {} GPUs", ep, hw.gpus_per_node));
  const placement::Cluster cluster{ep / per_node, per_node, static_cast<int>(model.experts / ep)};
  placement::Placement p = placement_path.empty()
                               ? placement::contiguous_placement(cluster, set.model.num_experts, set.model.moe_layers())
                               : placement::read_placement(placement_path);
  if (p.cluster.gpus() != ep)
    throw_usage(fmt::format("{} places experts on {} GPUs, the layout's ep is {}", placement_path, p.cluster.gpus(), ep));
  if (p.layers != set.model.moe_layers() || p.num_experts != set.model.num_experts)
    throw_bad_input(placement_path, "", "layers", fmt::format("the placement has {} MoE layers of {} experts, {} has {} of {}",
                                                              p.layers, p.num_experts, traces, set.model.moe_layers(),
                                                              set.model.num_experts));
  const placement::TrafficReport rep = placement::account_traffic(set, p, placement::round_robin_homes(set, p.cluster), {});
  MeasuredRouting m;
  int layers = 0;
  m.imbalance = rep.mean_layer_load_imbalance(&layers);
  m.traffic = {rep.intra_node_expert_sends_per_token_layer(), rep.inter_node_expert_sends_per_token_layer(),
               rep.intra_node_sends_per_token_layer(), rep.inter_node_sends_per_token_layer(),
               rep.layer_load_imbalances()};
  m.note = fmt::format(
      "routing of {} tokens from {} on ep {} ({} placement): busiest GPU / mean expert load {:.3f} (mean over {} "
      "layers); per token and layer {:.2f} of {} expert copies cross nodes ({:.2f} node-deduplicated sends)",
      set.num_tokens(), traces, ep, p.algorithm, m.imbalance, layers, m.traffic.inter_copies, model.top_k,
      m.traffic.inter_dedup);
  if (set.model.moe_layers() != model.num_moe_layers())
    m.note += fmt::format(" [the trace has {} MoE layers, {} {}: the means apply to every layer]", set.model.moe_layers(),
                          model.name, model.num_moe_layers());
  return m;
}

nlohmann::json step_json(const perf::StepCost& s) {
  nlohmann::json parts = nlohmann::json::object();
  for (int p = 0; p < perf::kParts; ++p) parts[perf::part_name(static_cast<perf::Part>(p))] = s.part_s[p];
  return {{"time_s", s.time_s}, {"flops_per_gpu", s.flops}, {"bytes_per_gpu", s.bytes}, {"parts_s", parts}};
}

}  // namespace

void register_estimate(CLI::App& app) {
  struct Opts {
    std::string model, hardware, dtype, act_dtype, kv_dtype, efficiency = "default", backend, calibration, draft_model,
        placement;
    std::vector<std::string> routing;
    perf::Parallel par;
    perf::Speculation spec;
    perf::Parallel prefill_par;  // disaggregated: the prefill worker's layout
    int prefill_workers = 0, decode_workers = 0;
    std::int64_t prefill_batch = 1;
    perf::Workload wl;
    std::int64_t concurrency = 0;
    bool json = false, a2a_dedup = false;
    double overlap = 0;
    std::string all_reduce = "ring";
    std::vector<double> ep_loads;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("estimate", "Analytic latency, throughput and memory of one deployment");
  cmd->add_option("--model", o->model, "Zoo name (deepseek-v3, llama-3.1-8b, ...), HF id or config.json path")->required();
  cmd->add_option("--hardware", o->hardware, "Preset (h100_sxm, h200_sxm, b200_sxm, mi300x, genz_h100, ...) or system YAML path")->required();
  cmd->add_option("--tp", o->par.tp, "Tensor parallelism (attention)")->check(CLI::Range(1, 4096));
  cmd->add_option("--pp", o->par.pp, "Pipeline stages")->check(CLI::Range(1, 4096));
  cmd->add_option("--ep", o->par.ep, "Expert parallelism (divides tp x dp)")->check(CLI::Range(1, 65536));
  cmd->add_option("--dp", o->par.dp, "Attention data parallelism")->check(CLI::Range(1, 4096));
  cmd->add_option("--microbatches", o->par.microbatches, "Micro-batches in flight through the --pp stages (static --batch only)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--spec-tokens", o->spec.draft_tokens,
                  "Speculative decoding: tokens drafted per iteration (by --draft-model, else the model's own MTP modules)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--spec-acceptance", o->spec.acceptance,
                  "Probability that a drafted token is accepted given the earlier ones were (default 0.7)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--overlap", o->overlap,
                  "Share (0-1) of each layer's collectives hidden behind its compute (two-batch overlap); default 0")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--all-reduce", o->all_reduce,
                  "All-reduce algorithm: ring (default), tree (double binary tree), best (the faster per message, as NCCL picks)")
      ->check(CLI::IsMember({"ring", "tree", "best"}));
  cmd->add_flag("--a2a-dedup", o->a2a_dedup,
                "Expert-parallel all-to-all sends each token once per remote node (DeepEP-style) instead of once per remote expert");
  auto* routing = cmd->add_option("--routing", o->routing,
                                  "Routing trace(s) of this model: the busiest GPU's expert load and the all-to-all sends "
                                  "are measured on them for the layout's --ep GPUs instead of assumed uniform");
  cmd->add_option("--ep-loads", o->ep_loads,
                  "Expert load of each of the --ep GPUs (tokens or any relative unit, comma-separated): the busiest over "
                  "the mean replaces the uniform assumption")
      ->delimiter(',')
      ->excludes(routing);
  cmd->add_option("--placement", o->placement, "Expert placement for --routing (default: contiguous)")->needs(routing);
  cmd->add_option("--draft-model", o->draft_model, "Draft model for --spec-tokens (zoo name, HF id or config.json)");
  auto* batch = cmd->add_option("--batch", o->wl.batch, "Sequences in one static batch (prefill together, then decode)")
                    ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--concurrency", o->concurrency,
                  "Steady-state serving with this many requests in flight (continuous batching, chunked prefill): "
                  "TTFT / TPOT as a serving benchmark measures them")
      ->check(CLI::Range(1, 1 << 24))
      ->excludes(batch);
  auto* pw = cmd->add_option("--prefill-workers", o->prefill_workers,
                             "Disaggregated serving: prefill workers (each --prefill-tp/ep/dp GPUs); the decode workers use "
                             "--tp/--ep/--dp. Needs --concurrency")
                 ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--decode-workers", o->decode_workers, "Disaggregated serving: decode workers (default 1)")
      ->check(CLI::Range(1, 1 << 16))
      ->needs(pw);
  cmd->add_option("--prefill-tp", o->prefill_par.tp, "Disaggregated: prefill worker tensor parallelism")->check(CLI::Range(1, 4096))->needs(pw);
  cmd->add_option("--prefill-ep", o->prefill_par.ep, "Disaggregated: prefill worker expert parallelism")->check(CLI::Range(1, 65536))->needs(pw);
  cmd->add_option("--prefill-dp", o->prefill_par.dp, "Disaggregated: prefill worker attention data parallelism")->check(CLI::Range(1, 4096))->needs(pw);
  cmd->add_option("--prefill-batch", o->prefill_batch, "Disaggregated: prompts per prefill step (default 1, at least one per DP rank)")
      ->check(CLI::Range(1, 1 << 20))
      ->needs(pw);
  cmd->add_option("--input-len", o->wl.input_len, "Prompt tokens per sequence")->check(CLI::Range(1, 1 << 26));
  cmd->add_option("--output-len", o->wl.output_len, "Generated tokens per sequence")->check(CLI::Range(1, 1 << 26));
  cmd->add_option("--dtype", o->dtype, "Weight format for every weight (default: from the config's quantization)");
  cmd->add_option("--act-dtype", o->act_dtype, "Activation format (default bf16, or fp8 with --dtype fp8)");
  cmd->add_option("--kv-dtype", o->kv_dtype, "KV-cache format (default: the activation format)");
  cmd->add_option("--efficiency", o->efficiency, "default (moeplan) or genz (GenZ's assumptions)")
      ->check(CLI::IsMember({"default", "genz"}));
  cmd->add_option("--backend", o->backend, "Serving engine whose calibrated efficiencies to use")
      ->check(CLI::IsMember({"trtllm", "vllm", "sglang"}));
  cmd->add_option("--calibration", o->calibration, "Calibration YAML for --backend (default data/calibration/silicon-dense.yaml)");
  cmd->add_flag("--json", o->json, "Print JSON (ttft_s, tpot_s, e2e_s, throughput_tokens_per_s, memory, breakdown)");
  cmd->callback([o] {
    perf::ModelSpec model = perf::load_model(o->model);
    perf::Hardware hw = perf::load_hardware(o->hardware);
    perf::ModelSpec draft;
    if (!o->draft_model.empty()) {
      if (o->spec.draft_tokens == 0) throw_usage("--draft-model needs --spec-tokens N");
      draft = perf::load_model(o->draft_model);
      o->spec.draft_model = &draft;
    }
    perf::Precision prec;
    // 8-bit weights run W8A8; 4-bit weights keep 16-bit activations unless told otherwise.
    if (!o->dtype.empty()) prec = perf::apply_weight_dtype(model, dtype_option(o->dtype, "--dtype"));
    if (!o->act_dtype.empty()) prec.activations = dtype_option(o->act_dtype, "--act-dtype");
    prec.kv_cache = o->kv_dtype.empty() ? prec.activations : dtype_option(o->kv_dtype, "--kv-dtype");
    perf::EstimateRequest r;
    r.model = &model;
    r.hardware = &hw;
    r.parallel = o->par;
    r.workload = o->wl;
    r.precision = prec;
    r.speculation = o->spec;
    r.efficiency = o->efficiency == "genz" ? perf::Efficiency::genz() : perf::Efficiency::defaults();
    perf::ServingParams serving_params;
    std::string eff_label = o->efficiency;
    if (!o->backend.empty()) {
      if (o->efficiency == "genz") throw_usage("--backend and --efficiency genz exclude each other");
      perf::CalibrationSet cal =
          perf::load_calibration(o->calibration.empty() ? perf::default_calibration_path() : o->calibration);
      const perf::Calibration* c = cal.find(o->backend, perf::calibration_class(prec.activations));
      if (!c) throw_usage(fmt::format("{} has no calibration entry for backend {}", cal.source, o->backend));
      r.efficiency = c->efficiency;
      serving_params = c->serving;
      eff_label = fmt::format("{} {} calibration", c->backend, c->precision);
    }
    r.efficiency.a2a_node_dedup = o->a2a_dedup;
    r.efficiency.comm_overlap = o->overlap;
    r.efficiency.all_reduce = *perf::parse_all_reduce(o->all_reduce);  // IsMember checked the name
    if (!o->ep_loads.empty()) {
      if (static_cast<int>(o->ep_loads.size()) != r.parallel.ep)
        throw_usage(fmt::format("--ep-loads has {} values for --ep {}", o->ep_loads.size(), r.parallel.ep));
      r.efficiency.moe_imbalance = perf::load_imbalance(o->ep_loads);
      r.efficiency.moe_imbalance_measured = true;
    }
    MeasuredRouting measured;
    if (!o->routing.empty()) {
      measured = measure_routing(o->routing, o->placement, model, hw, r.parallel.ep);
      r.efficiency.moe_imbalance = measured.imbalance;
      r.ep_traffic = measured.traffic;
    }
    perf::Estimate e;
    perf::ServingEstimate se;
    const bool serving = o->concurrency > 0;
    const bool disagg = o->prefill_workers > 0;
    if (disagg && !serving) throw_usage("--prefill-workers (disaggregated serving) needs --concurrency");
    if (serving) {
      const perf::ServingWorkload sw{o->concurrency, o->wl.input_len, o->wl.output_len};
      if (disagg) {
        perf::DisaggLayout d;
        d.decode = r;
        d.decode_workers = std::max(1, o->decode_workers);
        d.prefill = r;
        d.prefill.parallel = o->prefill_par;
        d.prefill.speculation = {};
        d.prefill_workers = o->prefill_workers;
        d.prefill_batch = o->prefill_batch;
        se = perf::serve_disaggregated(d, sw, serving_params);
      } else {
        se = perf::serve_aggregated(r, sw, serving_params);
      }
      e.prefill = se.prefill;
      e.decode = se.decode;
      e.decode_context = static_cast<double>(o->wl.input_len + o->wl.output_len / 2);
      e.ttft_s = se.ttft_s;
      e.tpot_s = se.tpot_s;
      e.e2e_s = se.e2e_s;
      e.throughput_tokens_per_s = se.throughput_tokens_per_s;
      e.throughput_tokens_per_s_per_gpu = se.throughput_tokens_per_s_per_gpu;
      e.gpus = se.gpus;
      e.memory = se.memory;
    } else {
      e = perf::estimate(r);
    }
    for (const auto& w : model.warnings) std::fprintf(stderr, "moeplan: warning: %s: %s\n", model.name.c_str(), w.c_str());
    const perf::MemoryUse& m = e.memory;
    const perf::MemoryRoom room = perf::memory_room(r);
    if (o->json) {
      nlohmann::json j = {
          {"model", model.name},
          {"hardware", hw.name},
          {"parallel", {{"tp", r.parallel.tp}, {"pp", r.parallel.pp}, {"ep", r.parallel.ep}, {"dp", r.parallel.dp}, {"gpus", e.gpus}}},
          {"workload", serving ? nlohmann::json{{"concurrency", o->concurrency}, {"input_len", r.workload.input_len},
                                                {"output_len", r.workload.output_len}}
                               : nlohmann::json{{"batch", r.workload.batch}, {"input_len", r.workload.input_len},
                                                {"output_len", r.workload.output_len}}},
          {"efficiency", o->efficiency},
          {"backend", o->backend.empty() ? nlohmann::json(nullptr) : nlohmann::json(o->backend)},
          {"ttft_s", e.ttft_s},
          {"tpot_s", e.tpot_s},
          {"e2e_s", e.e2e_s},
          {"throughput_tokens_per_s", e.throughput_tokens_per_s},
          {"throughput_tokens_per_s_per_gpu", e.throughput_tokens_per_s_per_gpu},
          {"decode_context_tokens", e.decode_context},
          {"speculation", r.speculation.enabled()
                              ? nlohmann::json{{"draft_tokens", r.speculation.draft_tokens},
                                               {"acceptance", r.speculation.acceptance},
                                               {"draft", o->draft_model.empty() ? "mtp" : draft.name},
                                               {"tokens_per_iteration", perf::tokens_per_iteration(r.speculation.draft_tokens, r.speculation.acceptance)}}
                              : nlohmann::json(nullptr)},
          {"microbatches", r.parallel.microbatches},
          {"routing", o->routing.empty() ? nlohmann::json(nullptr)
                                         : nlohmann::json{{"moe_imbalance", measured.imbalance},
                                                          {"intra_node_copies_per_token", measured.traffic.intra_copies},
                                                          {"inter_node_copies_per_token", measured.traffic.inter_copies},
                                                          {"intra_node_sends_per_token_dedup", measured.traffic.intra_dedup},
                                                          {"inter_node_sends_per_token_dedup", measured.traffic.inter_dedup}}},
          {"memory",
           {{"weights_bytes_per_gpu", m.weights_bytes_per_gpu},
            {"kv_cache_bytes_per_gpu", m.kv_cache_bytes_per_gpu},
            {"activations_bytes_per_gpu", m.activations_bytes_per_gpu},
            {"reserved_bytes_per_gpu", m.reserved_bytes_per_gpu},
            {"total_bytes_per_gpu", m.total_bytes_per_gpu},
            {"capacity_bytes_per_gpu", m.capacity_bytes_per_gpu},
            {"max_batch", room.max_batch},
            {"max_kv_tokens", std::isfinite(room.max_kv_tokens) ? nlohmann::json(room.max_kv_tokens) : nlohmann::json(nullptr)}}},
          {"breakdown", {{"prefill", step_json(e.prefill)}, {"decode_step", step_json(e.decode)}}},
          {"warnings", model.warnings},
      };
      if (serving)
        j["serving"] = {{"mode", disagg ? "disaggregated" : "aggregated"},
                        {"running_requests", se.running},       {"kv_capacity_requests", se.kv_capacity},
                        {"decode_step_s", se.decode_step_s},    {"mixed_step_s", se.mixed_step_s},
                        {"prefill_service_s", se.prefill_service_s}, {"queue_s", se.queue_s},
                        {"kv_transfer_s", se.kv_transfer_s}};
      if (disagg)
        j["disaggregated"] = {{"prefill_workers", o->prefill_workers},
                              {"prefill_parallel", {{"tp", o->prefill_par.tp}, {"ep", o->prefill_par.ep}, {"dp", o->prefill_par.dp}}},
                              {"prefill_batch", o->prefill_batch},
                              {"decode_workers", std::max(1, o->decode_workers)}};
      print_json(j);
      return;
    }
    constexpr double GiB = 1024.0 * 1024.0 * 1024.0;
    std::cout << fmt::format("{} on {} x {} (tp {} pp {} ep {} dp {}), {} {}, {} in / {} out, efficiency {}\n",
                             model.name, e.gpus, hw.name, r.parallel.tp, r.parallel.pp, r.parallel.ep, r.parallel.dp,
                             serving ? "concurrency" : "batch", serving ? o->concurrency : r.workload.batch,
                             r.workload.input_len, r.workload.output_len, eff_label);
    std::cout << fmt::format("  TTFT {:.3f} ms   TPOT {:.3f} ms (context {:.0f})   end-to-end {:.3f} s\n", e.ttft_s * 1e3,
                             e.tpot_s * 1e3, e.decode_context, e.e2e_s);
    std::cout << fmt::format("  throughput {:.1f} tokens/s ({:.1f} per GPU)\n", e.throughput_tokens_per_s,
                             e.throughput_tokens_per_s_per_gpu);
    if (!measured.note.empty()) std::cout << "  " << measured.note << "\n";
    if (r.speculation.enabled())
      std::cout << fmt::format("  speculative: {} drafted by {}, acceptance {:.2f}: {:.3f} tokens per iteration; "
                               "the decode step below is one iteration (drafts + verification)\n",
                               r.speculation.draft_tokens, o->draft_model.empty() ? "MTP" : draft.name,
                               r.speculation.acceptance,
                               perf::tokens_per_iteration(r.speculation.draft_tokens, r.speculation.acceptance));
    if (r.parallel.microbatches > 1)
      std::cout << fmt::format("  pipeline: {} micro-batches of {} over {} stages\n", r.parallel.microbatches,
                               r.workload.batch / r.parallel.microbatches, r.parallel.pp);
    if (disagg)
      std::cout << fmt::format("  disaggregated: {} prefill worker(s) of {} GPUs (tp {} ep {} dp {}, {} prompt(s) per step) + {} "
                               "decode worker(s) of {} GPUs; KV transfer {:.3f} ms per request\n",
                               o->prefill_workers, o->prefill_par.gpus(), o->prefill_par.tp, o->prefill_par.ep,
                               o->prefill_par.dp, o->prefill_batch, std::max(1, o->decode_workers), r.parallel.gpus(),
                               se.kv_transfer_s * 1e3);
    if (serving)
      std::cout << fmt::format("  serving: {:.0f} running (KV room for {:.0f}), decode step {:.3f} ms, with its prefill share "
                               "{:.3f} ms, own prefill {:.3f} ms, queue {:.3f} ms\n",
                               se.running, std::min(se.kv_capacity, 1e9), se.decode_step_s * 1e3, se.mixed_step_s * 1e3,
                               se.prefill_service_s * 1e3, se.queue_s * 1e3);
    std::cout << fmt::format("  memory per GPU: weights {:.2f} GiB, KV cache {:.2f} GiB, activations {:.2f} GiB, "
                             "reserved {:.2f} GiB = {:.2f} of {:.2f} GiB\n",
                             m.weights_bytes_per_gpu / GiB, m.kv_cache_bytes_per_gpu / GiB,
                             m.activations_bytes_per_gpu / GiB, m.reserved_bytes_per_gpu / GiB,
                             m.total_bytes_per_gpu / GiB, m.capacity_bytes_per_gpu / GiB);
    if (!serving)  // serving prints its KV room in requests above
      std::cout << fmt::format("  room: batch up to {} at {}+{} tokens; KV cache for {} tokens\n", room.max_batch,
                             r.workload.input_len, r.workload.output_len,
                             std::isfinite(room.max_kv_tokens) ? fmt::format("{:.0f}", room.max_kv_tokens) : "any number of");
    std::cout << (serving ? "  breakdown (ms)   own prefill   mixed step\n" : "  breakdown (ms)      prefill   decode step\n");
    for (int p = 0; p < perf::kParts; ++p) {
      if (e.prefill.part_s[p] == 0 && e.decode.part_s[p] == 0) continue;
      std::cout << fmt::format("    {:<14} {:>10.3f} {:>12.4f}\n", perf::part_name(static_cast<perf::Part>(p)),
                               e.prefill.part_s[p] * 1e3, e.decode.part_s[p] * 1e3);
    }
  });
}

}  // namespace moeplan::cli
