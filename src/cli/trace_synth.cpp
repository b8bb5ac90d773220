// moeplan trace synth: generate a synthetic routing trace (docs/synth.md).
#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/trace/store.hpp"
#include "moeplan/trace/synth.hpp"

namespace moeplan::cli {

void register_trace_synth(CLI::App& trace) {
  struct Opts {
    trace::SynthParams p;
    std::string prefill, decode, params_file, output;
    std::vector<std::string> like;
    int domains = 1;
    int rounds = trace::FitOptions{}.max_rounds;
    bool print_params = false, compress = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = trace.add_subcommand(
      "synth", "Generate a synthetic routing trace from a parametric model, optionally fitted to a real trace");
  auto& p = o->p;
  cmd->add_option("-o,--output", o->output, "Output .moet file (written atomically)");
  cmd->add_option("--like", o->like,
                  "Fit the model to these real traces (files or directories) first; defaults then "
                  "follow the real trace (same requests and lengths)");
  cmd->add_option("--params", o->params_file, "Read the model from a JSON file (as --print-params writes)");
  cmd->add_flag("--print-params", o->print_params, "Print the model's parameters as JSON on stdout");
  // Options given explicitly override --like / --params.
  std::vector<CLI::Option*> shape = {
      cmd->add_option("--requests", p.requests, "Number of requests")->check(CLI::Range(1ull, 1ull << 40)),
      cmd->add_option("--layers", p.layers, "MoE layers")->check(CLI::Range(1, 4096)),
      cmd->add_option("--experts", p.experts, "Routed experts per MoE layer (with --like: of the real trace)")
          ->check(CLI::Range(1, 65535)),
      cmd->add_option("--top-k", p.top_k, "Experts per token and layer")->check(CLI::Range(1, 65535))};
  auto* prefill = cmd->add_option("--prefill-tokens", o->prefill,
                                  "Prefill tokens per request: N, uniform:A:B or lognormal:MEAN:SIGMA (default lognormal:64:0.6)");
  auto* decode = cmd->add_option("--decode-tokens", o->decode, "Decode tokens per request, same forms (default lognormal:32:0.6)");
  auto* domains = cmd->add_option("--domains", o->domains, "Number of domains (labels d0, d1, ...)")->check(CLI::Range(1, 100000));
  auto* seed = cmd->add_option("--seed", p.seed, "Random seed (same seed and parameters: identical trace)");
  using Field = double trace::SynthParams::*;
  std::vector<std::pair<CLI::Option*, Field>> scalars = {
      {cmd->add_option("--skew", p.skew, "Zipf exponent of expert popularity (mean over layers)"), &trace::SynthParams::skew},
      {cmd->add_option("--skew-spread", p.skew_spread, "Log-normal spread of the exponent across layers"), &trace::SynthParams::skew_spread},
      {cmd->add_option("--domain-shift", p.domain_shift, "Log-normal per-expert popularity shift between domains"), &trace::SynthParams::domain_shift},
      {cmd->add_option("--decode-shift", p.decode_shift, "Log-normal per-expert popularity shift of decode vs prefill"), &trace::SynthParams::decode_shift},
      {cmd->add_option("--stickiness", p.stickiness, "P(a slot repeats the previous token's expert)")->check(CLI::Range(0.0, 1.0)), &trace::SynthParams::stickiness},
      {cmd->add_option("--affinity", p.affinity, "P(a slot follows the previous layer's affinity map)")->check(CLI::Range(0.0, 1.0)), &trace::SynthParams::affinity},
      {cmd->add_option("--affinity-sharpness", p.affinity_sharpness, "Power applied to affinity weights (> 1: sharper)")->check(CLI::Range(0.01, 64.0)), &trace::SynthParams::affinity_sharpness},
      {cmd->add_option("--decode-mix", p.decode_mix, "Decode popularity := (1-mix) decode + mix prefill")->check(CLI::Range(0.0, 1.0)), &trace::SynthParams::decode_mix}};
  auto* partners = cmd->add_option("--affinity-partners", p.affinity_partners, "Partners per expert in the parametric affinity map")
                       ->check(CLI::Range(1, 65535));
  cmd->add_option("--calibration-rounds", o->rounds, "Most calibration rounds of --like")->check(CLI::Range(1, 100));
  cmd->add_flag("--compress", o->compress, "zstd-compress the .moet column blocks");
  cmd->add_flag("-q,--quiet", o->quiet, "No progress lines on stderr");
  cmd->get_option("--like")->excludes("--params");

  cmd->callback([o, shape, prefill, decode, domains, seed, scalars, partners] {
    if (o->output.empty() && !o->print_params) throw_usage("trace synth: give -o OUT.moet and/or --print-params");
    auto say = [o](const std::string& s) {
      if (!o->quiet) std::cerr << s << "\n";
    };
    trace::SynthParams given = o->p;  // the command-line values (defaults where not given)
    trace::SynthParams p = given;
    if (!o->like.empty()) {
      trace::ImportOptions imp;
      imp.num_experts = shape[2]->count() ? given.experts : 0;
      trace::TraceSet real = trace::import_traces(o->like, imp);
      say(fmt::format("fitting to {} requests, {} tokens", real.requests.size(), real.num_tokens()));
      p = trace::fit_like(real, {o->rounds, 0.02, say});
    } else if (!o->params_file.empty()) {
      std::ifstream in(o->params_file);
      if (!in) throw_io(o->params_file, "cannot open");
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(in);
      } catch (const nlohmann::json::exception& e) {
        throw_bad_input(o->params_file, "", "", e.what());
      }
      p = trace::params_from_json(j, o->params_file);
    }
    // Explicit options win over fitted or loaded values.
    if (shape[0]->count()) p.requests = given.requests;
    if (shape[1]->count()) p.layers = given.layers, p.moe_layer_ids.clear();
    if (shape[2]->count()) p.experts = given.experts;
    if (shape[3]->count()) p.top_k = given.top_k;
    if (prefill->count() || decode->count()) p.shapes.clear();
    if (prefill->count()) p.prefill = trace::LengthDist::parse(o->prefill);
    if (decode->count()) p.decode = trace::LengthDist::parse(o->decode);
    if (domains->count()) {
      p.domains.clear();
      for (int d = 0; d < o->domains; ++d) p.domains.push_back(fmt::format("d{}", d));
      p.shapes.clear();
    }
    if (seed->count()) p.seed = given.seed;
    for (const auto& [opt, field] : scalars)
      if (opt->count()) p.*field = given.*field;
    if (partners->count()) p.affinity_partners = given.affinity_partners;
    p.validate();

    if (o->print_params) std::cout << trace::params_to_json(p).dump(1) << "\n";
    if (o->output.empty()) return;
    auto t0 = std::chrono::steady_clock::now();
    trace::TraceSet set = trace::synthesize(p, o->quiet ? trace::Progress{} : stderr_progress("generating requests", false));
    auto t1 = std::chrono::steady_clock::now();
    trace::save_moet(set, o->output, {o->compress, 3});
    auto t2 = std::chrono::steady_clock::now();
    say(fmt::format("wrote {}: {} requests, {} tokens, {} ids (generated in {:.2f} s on {} threads, written in {:.2f} s)",
                    o->output, set.requests.size(), set.num_tokens(), set.ids.size(),
                    std::chrono::duration<double>(t1 - t0).count(), omp_get_max_threads(),
                    std::chrono::duration<double>(t2 - t1).count()));
  });
}

}  // namespace moeplan::cli
