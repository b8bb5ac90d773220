// Sweeps: the grid YAML, the point numbering, one point's evaluation and CSV row, the Pareto
// frontier, and the OpenMP driver (see sweep.hpp).
#include "moeplan/perf/sweep.hpp"

#include <fmt/compile.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/perf/zoo.hpp"

namespace moeplan::perf {

namespace {

// ---- grid YAML ------------------------------------------------------------------------------

std::vector<std::string> strings(const YAML::Node& n, const std::string& file, const std::string& field) {
  std::vector<std::string> out;
  if (n.IsScalar()) {
    if (n.Scalar().empty()) throw_bad_input(file, "", field, "expected a non-empty string");
    out.push_back(n.Scalar());
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar() || n[i].Scalar().empty())
        throw_bad_input(file, "", fmt::format("{}[{}]", field, i), "expected a non-empty string");
      out.push_back(n[i].Scalar());
    }
  } else {
    throw_bad_input(file, "", field, "expected a list of strings");
  }
  if (out.empty()) throw_bad_input(file, "", field, "empty list");
  return out;
}

template <class T>
std::vector<T> integers(const YAML::Node& n, const std::string& file, const std::string& field, std::int64_t lo,
                        std::int64_t hi) {
  std::vector<T> out;
  auto one = [&](const YAML::Node& x, const std::string& at) {
    if (!x.IsScalar()) throw_bad_input(file, "", at, "expected an integer");
    const std::string& s = x.Scalar();
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(s, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) throw_bad_input(file, "", at, fmt::format("expected an integer, got \"{}\"", s));
    if (v < lo || v > hi) throw_bad_input(file, "", at, fmt::format("{} is outside [{}, {}]", v, lo, hi));
    out.push_back(static_cast<T>(v));
  };
  if (n.IsScalar()) {
    one(n, field);
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) one(n[i], fmt::format("{}[{}]", field, i));
  } else {
    throw_bad_input(file, "", field, "expected a list of integers");
  }
  if (out.empty()) throw_bad_input(file, "", field, "empty list");
  return out;
}

std::vector<double> fractions(const YAML::Node& n, const std::string& file, const std::string& field) {
  std::vector<double> out;
  auto one = [&](const YAML::Node& x, const std::string& at) {
    double v = 0;
    if (!x.IsScalar() || !YAML::convert<double>::decode(x, v) || !std::isfinite(v) || v < 0 || v > 1)
      throw_bad_input(file, "", at, "expected a number in [0, 1]");
    out.push_back(v);
  };
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) one(n[i], fmt::format("{}[{}]", field, i));
  } else {
    one(n, field);
  }
  if (out.empty()) throw_bad_input(file, "", field, "empty list");
  return out;
}

// "none", or "N@A": N tokens drafted by the model's MTP modules, each accepted with A.
Speculation speculation_of(const std::string& s, const std::string& file, const std::string& at) {
  Speculation sp;
  if (s == "none") return sp;
  const std::size_t a = s.find('@');
  std::size_t used = 0, used_a = 0;
  try {
    if (a != std::string::npos) {
      sp.draft_tokens = std::stoi(s.substr(0, a), &used);
      sp.acceptance = std::stod(s.substr(a + 1), &used_a);
    }
  } catch (const std::exception&) {
    used = 0;
  }
  if (a == std::string::npos || used != a || used_a != s.size() - a - 1 || sp.draft_tokens < 1 || sp.draft_tokens > 64 ||
      !(sp.acceptance >= 0 && sp.acceptance <= 1))
    throw_bad_input(file, "", at,
                    fmt::format("expected none or N@A (N = 1..64 tokens drafted by the model's MTP, A = acceptance 0..1), got \"{}\"", s));
  return sp;
}

std::string speculation_text(const Speculation& s) {
  return s.enabled() ? fmt::format("{}@{}", s.draft_tokens, s.acceptance) : "none";
}

void only_keys(const YAML::Node& map, std::initializer_list<const char*> keys, const std::string& file,
               const std::string& prefix) {
  for (const auto& kv : map) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    if (std::none_of(keys.begin(), keys.end(), [&](const char* x) { return k == x; })) {
      std::string all;
      for (const char* x : keys) all += (all.empty() ? "" : ", ") + std::string(x);
      throw_bad_input(file, "", prefix + k, "unknown field (expected one of: " + all + ")");
    }
  }
}

const char* kBackends[] = {"none", "trtllm", "vllm", "sglang"};

// ---- CSV helpers ----------------------------------------------------------------------------

void csv_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c == '\n' ? ' ' : c;
  }
  out += '"';
}

}  // namespace

SweepGrid parse_sweep_grid(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw_bad_input(file, fmt::format("line {}", e.mark.line + 1), "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw_bad_input(file, "", "", "expected a YAML map with models, hardware, parallel and load");
  only_keys(root, {"models", "hardware", "backends", "dtypes", "parallel", "load", "options"}, file, "");
  SweepGrid g;
  g.file = file;
  if (!root["models"]) throw_bad_input(file, "", "models", "missing");
  g.models = strings(root["models"], file, "models");
  if (!root["hardware"]) throw_bad_input(file, "", "hardware", "missing");
  g.hardware = strings(root["hardware"], file, "hardware");
  if (root["backends"]) {
    g.backends = strings(root["backends"], file, "backends");
    for (std::size_t i = 0; i < g.backends.size(); ++i)
      if (std::none_of(std::begin(kBackends), std::end(kBackends), [&](const char* b) { return g.backends[i] == b; }))
        throw_bad_input(file, "", fmt::format("backends[{}]", i),
                        fmt::format("unknown backend \"{}\" (none, trtllm, vllm, sglang)", g.backends[i]));
  }
  if (root["dtypes"]) {
    g.dtypes = strings(root["dtypes"], file, "dtypes");
    for (std::size_t i = 0; i < g.dtypes.size(); ++i)
      if (g.dtypes[i] != "auto" && !parse_dtype(g.dtypes[i]))
        throw_bad_input(file, "", fmt::format("dtypes[{}]", i),
                        fmt::format("unknown format \"{}\" (auto, bf16, fp16, fp8, int8, int4, fp4)", g.dtypes[i]));
  }
  if (const YAML::Node& p = root["parallel"]) {
    if (!p.IsMap()) throw_bad_input(file, "", "parallel", "expected a map of tp, pp, ep, dp, moe_tp lists");
    only_keys(p, {"tp", "pp", "ep", "dp", "moe_tp"}, file, "parallel.");
    if (p["tp"]) g.tp = integers<int>(p["tp"], file, "parallel.tp", 1, 4096);
    if (p["pp"]) g.pp = integers<int>(p["pp"], file, "parallel.pp", 1, 4096);
    if (p["ep"]) g.ep = integers<int>(p["ep"], file, "parallel.ep", 1, 65536);
    if (p["dp"]) g.dp = integers<int>(p["dp"], file, "parallel.dp", 1, 4096);
    if (p["moe_tp"]) g.moe_tp = integers<int>(p["moe_tp"], file, "parallel.moe_tp", 1, 65536);
  }
  const YAML::Node& l = root["load"];
  if (!l) throw_bad_input(file, "", "load", "missing (a map with batch and/or concurrency lists)");
  if (!l.IsMap()) throw_bad_input(file, "", "load", "expected a map of batch, concurrency, input_len, output_len lists");
  only_keys(l, {"batch", "concurrency", "input_len", "output_len"}, file, "load.");
  if (l["batch"]) g.batch = integers<std::int64_t>(l["batch"], file, "load.batch", 1, 1 << 24);
  if (l["concurrency"]) g.concurrency = integers<std::int64_t>(l["concurrency"], file, "load.concurrency", 1, 1 << 24);
  if (g.batch.empty() && g.concurrency.empty())
    throw_bad_input(file, "", "load", "needs a batch or a concurrency list");
  if (l["input_len"]) g.input_len = integers<std::int64_t>(l["input_len"], file, "load.input_len", 1, 1 << 26);
  if (l["output_len"]) g.output_len = integers<std::int64_t>(l["output_len"], file, "load.output_len", 1, 1 << 26);
  if (const YAML::Node& o = root["options"]) {
    if (!o.IsMap()) throw_bad_input(file, "", "options", "expected a map of microbatches, overlap, a2a_dedup, all_reduce, speculation lists");
    only_keys(o, {"microbatches", "overlap", "a2a_dedup", "all_reduce", "speculation"}, file, "options.");
    if (o["microbatches"]) g.microbatches = integers<int>(o["microbatches"], file, "options.microbatches", 1, 1 << 20);
    if (o["overlap"]) g.overlap = fractions(o["overlap"], file, "options.overlap");
    if (o["a2a_dedup"]) {
      g.a2a_dedup.clear();
      const std::vector<std::string> v = strings(o["a2a_dedup"], file, "options.a2a_dedup");
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != "true" && v[i] != "false")
          throw_bad_input(file, "", fmt::format("options.a2a_dedup[{}]", i), "expected true or false");
        g.a2a_dedup.push_back(v[i] == "true" ? 1 : 0);
      }
    }
    if (o["all_reduce"]) {
      g.all_reduce.clear();
      const std::vector<std::string> v = strings(o["all_reduce"], file, "options.all_reduce");
      for (std::size_t i = 0; i < v.size(); ++i) {
        const auto a = parse_all_reduce(v[i]);
        if (!a) throw_bad_input(file, "", fmt::format("options.all_reduce[{}]", i), "expected ring, tree or best");
        g.all_reduce.push_back(*a);
      }
    }
    if (o["speculation"]) {
      g.speculation.clear();
      const std::vector<std::string> v = strings(o["speculation"], file, "options.speculation");
      for (std::size_t i = 0; i < v.size(); ++i)
        g.speculation.push_back(speculation_of(v[i], file, fmt::format("options.speculation[{}]", i)));
    }
  }
  // The point count must stay addressable.
  long double n = 1;
  for (std::size_t k : {g.models.size(), g.hardware.size(), g.backends.size(), g.dtypes.size(), g.tp.size(),
                        g.pp.size(), g.ep.size(), g.dp.size(), std::max<std::size_t>(1, g.moe_tp.size()),
                        g.microbatches.size(), g.overlap.size(), g.a2a_dedup.size(), g.all_reduce.size(),
                        g.speculation.size(), g.batch.size() + g.concurrency.size(), g.input_len.size(),
                        g.output_len.size()})
    n *= static_cast<long double>(k);
  if (n > 1e12L) throw_bad_input(file, "", "", fmt::format("{:.3g} points: more than 10^12", static_cast<double>(n)));
  return g;
}

SweepGrid load_sweep_grid(const std::string& path) {
  std::vector<char> bytes = io::read_file(path);
  return parse_sweep_grid(std::string(bytes.begin(), bytes.end()), path);
}

// ---- loaded grid ----------------------------------------------------------------------------

struct Sweep::Impl {
  std::vector<ModelSpec> models;     // [model x dtype]
  std::vector<Precision> precision;  // [model x dtype]
  std::vector<Hardware> hardware;
  std::vector<Efficiency> efficiency;   // [backend x model x dtype]
  std::vector<ServingParams> serving;   // [backend x model x dtype]
  // Radices, innermost last: model, hardware, backend, dtype, tp, pp, ep, dp, moe_tp,
  // microbatches, overlap, a2a_dedup, all_reduce, speculation, load, input, output.
  std::array<std::uint64_t, 17> radix{};
};

Sweep::~Sweep() = default;
Sweep::Sweep(Sweep&&) noexcept = default;

Sweep::Sweep(SweepGrid grid, const CalibrationSet* calibration) : grid_(std::move(grid)), impl_(std::make_unique<Impl>()) {
  const SweepGrid& g = grid_;
  const std::string& file = g.file;
  const std::filesystem::path base = std::filesystem::path(file).parent_path();
  auto relative = [&](const std::string& what) {
    // Paths in the grid are relative to the grid file; names are zoo names or presets.
    std::filesystem::path p(what);
    if (p.is_relative() && !base.empty() && std::filesystem::exists(base / p)) return (base / p).string();
    return what;
  };
  std::vector<ModelSpec> base_models;
  for (std::size_t i = 0; i < g.models.size(); ++i) {
    try {
      base_models.push_back(load_model(relative(g.models[i])));
    } catch (const Error& e) {
      throw_bad_input(file, "", fmt::format("models[{}]", i), e.what());
    }
  }
  for (std::size_t i = 0; i < g.hardware.size(); ++i) {
    try {
      impl_->hardware.push_back(load_hardware(relative(g.hardware[i])));
    } catch (const Error& e) {
      throw_bad_input(file, "", fmt::format("hardware[{}]", i), e.what());
    }
  }
  for (const ModelSpec& m : base_models) {
    for (const std::string& d : g.dtypes) {
      ModelSpec copy = m;
      Precision prec;
      if (d != "auto") prec = apply_weight_dtype(copy, *parse_dtype(d));
      impl_->models.push_back(std::move(copy));
      impl_->precision.push_back(prec);
    }
  }
  for (std::size_t b = 0; b < g.backends.size(); ++b) {
    for (std::size_t k = 0; k < impl_->models.size(); ++k) {
      if (g.backends[b] == "none") {
        impl_->efficiency.push_back(Efficiency::defaults());
        impl_->serving.push_back(ServingParams{});
        continue;
      }
      const DType a = impl_->precision[k].activations;
      const std::string cls = calibration_class(a);
      const Calibration* c = calibration ? calibration->find(g.backends[b], cls) : nullptr;
      if (!c)
        throw_bad_input(file, "", fmt::format("backends[{}]", b),
                        fmt::format("no calibration entry for backend \"{}\"", g.backends[b]));
      impl_->efficiency.push_back(c->efficiency);
      impl_->serving.push_back(c->serving);
    }
  }
  impl_->radix = {g.models.size(), g.hardware.size(), g.backends.size(), g.dtypes.size(), g.tp.size(), g.pp.size(),
                  g.ep.size(), g.dp.size(), std::max<std::size_t>(1, g.moe_tp.size()), g.microbatches.size(),
                  g.overlap.size(), g.a2a_dedup.size(), g.all_reduce.size(), g.speculation.size(),
                  g.batch.size() + g.concurrency.size(), g.input_len.size(), g.output_len.size()};
  size_ = 1;
  for (std::uint64_t r : impl_->radix) size_ *= r;
}

SweepIndex Sweep::index(std::uint64_t i) const {
  std::array<int, 17> d{};
  for (int k = 16; k >= 0; --k) {
    d[k] = static_cast<int>(i % impl_->radix[k]);
    i /= impl_->radix[k];
  }
  SweepIndex x;
  x.model = d[0], x.hardware = d[1], x.backend = d[2], x.dtype = d[3], x.tp = d[4], x.pp = d[5], x.ep = d[6], x.dp = d[7];
  x.moe_tp = d[8], x.microbatches = d[9], x.overlap = d[10], x.a2a_dedup = d[11], x.all_reduce = d[12];
  x.speculation = d[13], x.load = d[14], x.input = d[15], x.output = d[16];
  return x;
}

namespace {

// The figures a sweep row keeps, from a static-batch Estimate or a ServingEstimate alike.
template <class Result>
void take_result(SweepResult& out, const Result& e) {
  out.ttft_s = e.ttft_s;
  out.tpot_s = e.tpot_s;
  out.e2e_s = e.e2e_s;
  out.throughput_tokens_per_s = e.throughput_tokens_per_s;
  out.throughput_tokens_per_s_per_gpu = e.throughput_tokens_per_s_per_gpu;
  out.weights_bytes_per_gpu = e.memory.weights_bytes_per_gpu;
  out.kv_cache_bytes_per_gpu = e.memory.kv_cache_bytes_per_gpu;
  out.total_bytes_per_gpu = e.memory.total_bytes_per_gpu;
  out.capacity_bytes_per_gpu = e.memory.capacity_bytes_per_gpu;
  out.feasible = true;
}

}  // namespace

SweepResult Sweep::evaluate(std::uint64_t i) const {
  const SweepGrid& g = grid_;
  const SweepIndex x = index(i);
  const std::size_t md = static_cast<std::size_t>(x.model) * g.dtypes.size() + x.dtype;
  const std::size_t bmd = static_cast<std::size_t>(x.backend) * impl_->models.size() + md;
  EstimateRequest r;
  r.model = &impl_->models[md];
  r.hardware = &impl_->hardware[x.hardware];
  r.precision = impl_->precision[md];
  r.efficiency = impl_->efficiency[bmd];
  r.parallel = Parallel{g.tp[x.tp], g.pp[x.pp], g.ep[x.ep], g.dp[x.dp]};
  r.parallel.microbatches = g.microbatches[x.microbatches];
  r.efficiency.comm_overlap = g.overlap[x.overlap];
  r.efficiency.a2a_node_dedup = g.a2a_dedup[x.a2a_dedup] != 0;
  r.efficiency.all_reduce = g.all_reduce[x.all_reduce];
  r.speculation = g.speculation[x.speculation];
  const std::int64_t isl = g.input_len[x.input], osl = g.output_len[x.output];
  SweepResult out;
  if (!g.moe_tp.empty()) {
    const int moe_tp = g.moe_tp[x.moe_tp];
    const ModelSpec& m = *r.model;
    const int stage = r.parallel.tp * r.parallel.dp;
    if (!m.is_moe() && moe_tp != 1) {
      out.reason = fmt::format("moe_tp {} given, but {} has no experts", moe_tp, m.name);
      return out;
    }
    if (m.is_moe() && static_cast<std::int64_t>(moe_tp) * r.parallel.ep != stage) {
      out.reason = fmt::format("moe_tp {} x ep {} != tp x dp = {}", moe_tp, r.parallel.ep, stage);
      return out;
    }
  }
  const bool serving = static_cast<std::size_t>(x.load) >= g.batch.size();
  if (!serving) {
    r.workload = Workload{g.batch[x.load], isl, osl};
    Estimate e;
    if (!try_estimate(r, e, out.reason)) return out;
    take_result(out, e);
    return out;
  }
  const std::int64_t C = g.concurrency[x.load - g.batch.size()];
  // serve_aggregated() runs at least one request per attention-DP rank.
  Workload wl{std::max<std::int64_t>(C, r.parallel.dp), isl, osl};
  wl.batch -= wl.batch % r.parallel.dp;
  out.reason = parallel_problem(*r.model, r.parallel, wl);
  if (!out.reason.empty()) return out;
  if (C < r.parallel.dp) {
    out.reason = fmt::format("concurrency {} leaves some of the dp {} ranks idle", C, r.parallel.dp);
    return out;
  }
  try {
    ServingEstimate e = serve_aggregated(r, ServingWorkload{C, isl, osl}, impl_->serving[bmd]);
    take_result(out, e);
  } catch (const Error& err) {
    out.reason = err.message();
  }
  return out;
}

std::string Sweep::csv_header() {
  return "model,hardware,backend,dtype,tp,pp,ep,dp,moe_tp,gpus,microbatches,overlap,a2a_dedup,all_reduce,speculation,"
         "mode,batch,concurrency,input_len,output_len,"
         "feasible,ttft_s,tpot_s,e2e_s,throughput_tokens_per_s,throughput_tokens_per_s_per_gpu,"
         "weights_bytes_per_gpu,kv_cache_bytes_per_gpu,total_bytes_per_gpu,capacity_bytes_per_gpu,reason\n";
}

void Sweep::csv_row(std::uint64_t i, const SweepResult& r, std::string& out) const {
  const SweepGrid& g = grid_;
  const SweepIndex x = index(i);
  csv_field(out, g.models[x.model]);
  out += ',';
  csv_field(out, g.hardware[x.hardware]);
  const int tp = g.tp[x.tp], pp = g.pp[x.pp], ep = g.ep[x.ep], dp = g.dp[x.dp];
  const int moe_tp = g.moe_tp.empty() ? (ep > 0 && (tp * dp) % ep == 0 ? tp * dp / ep : 0) : g.moe_tp[x.moe_tp];
  const bool serving = static_cast<std::size_t>(x.load) >= g.batch.size();
  auto it = std::back_inserter(out);
  // FMT_COMPILE: the format strings are parsed at compile time (runtime parsing was a third of
  // a sweep's time, bench/bench_perf.cpp BM_Sweep).
  fmt::format_to(it, FMT_COMPILE(",{},{},{},{},{},{},{},{},{},{},{},{},"), g.backends[x.backend], g.dtypes[x.dtype], tp, pp, ep,
                 dp, moe_tp, tp * pp * dp, g.microbatches[x.microbatches], g.overlap[x.overlap], g.a2a_dedup[x.a2a_dedup],
                 all_reduce_name(g.all_reduce[x.all_reduce]));
  const Speculation& sp = g.speculation[x.speculation];
  if (sp.enabled()) fmt::format_to(it, FMT_COMPILE("{}@{},"), sp.draft_tokens, sp.acceptance);
  else out += "none,";
  out += serving ? "serving," : "batch,";
  if (serving) fmt::format_to(it, FMT_COMPILE(",{}"), g.concurrency[x.load - g.batch.size()]);
  else fmt::format_to(it, FMT_COMPILE("{},"), g.batch[x.load]);
  fmt::format_to(it, FMT_COMPILE(",{},{},"), g.input_len[x.input], g.output_len[x.output]);
  if (r.feasible) {
    // Bytes as integers: fmt's fixed-point path for large doubles is slow (big-integer digits).
    auto whole = [](double x) { return static_cast<long long>(std::llround(x)); };
    fmt::format_to(it, FMT_COMPILE("1,{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{},{},{},{},\n"), r.ttft_s, r.tpot_s, r.e2e_s,
                   r.throughput_tokens_per_s, r.throughput_tokens_per_s_per_gpu, whole(r.weights_bytes_per_gpu),
                   whole(r.kv_cache_bytes_per_gpu), whole(r.total_bytes_per_gpu), whole(r.capacity_bytes_per_gpu));
  } else {
    out += "0,,,,,,,,,,";
    csv_field(out, r.reason);
    out += '\n';
  }
}

std::string Sweep::describe(std::uint64_t i) const {
  const SweepGrid& g = grid_;
  const SweepIndex x = index(i);
  const bool serving = static_cast<std::size_t>(x.load) >= g.batch.size();
  std::string s = fmt::format("{} {} {} {} tp{} pp{} ep{} dp{}", g.models[x.model], g.hardware[x.hardware],
                              g.backends[x.backend], g.dtypes[x.dtype], g.tp[x.tp], g.pp[x.pp], g.ep[x.ep], g.dp[x.dp]);
  if (!g.moe_tp.empty()) s += fmt::format(" moe_tp{}", g.moe_tp[x.moe_tp]);
  if (g.microbatches[x.microbatches] > 1) s += fmt::format(" mb{}", g.microbatches[x.microbatches]);
  if (g.overlap[x.overlap] > 0) s += fmt::format(" overlap{}", g.overlap[x.overlap]);
  if (g.a2a_dedup[x.a2a_dedup]) s += " dedup";
  if (g.all_reduce[x.all_reduce] != Efficiency::AllReduce::ring) s += fmt::format(" ar-{}", all_reduce_name(g.all_reduce[x.all_reduce]));
  if (g.speculation[x.speculation].enabled()) s += " spec" + speculation_text(g.speculation[x.speculation]);
  s += serving ? fmt::format(" c{}", g.concurrency[x.load - g.batch.size()]) : fmt::format(" b{}", g.batch[x.load]);
  s += fmt::format(" {}/{}", g.input_len[x.input], g.output_len[x.output]);
  return s;
}

std::vector<ParetoPoint> pareto_frontier(std::vector<ParetoPoint> c) {
  std::sort(c.begin(), c.end(), [](const ParetoPoint& a, const ParetoPoint& b) {
    if (a.tpot_s != b.tpot_s) return a.tpot_s < b.tpot_s;
    if (a.throughput_tokens_per_s_per_gpu != b.throughput_tokens_per_s_per_gpu)
      return a.throughput_tokens_per_s_per_gpu > b.throughput_tokens_per_s_per_gpu;
    return a.index < b.index;
  });
  std::vector<ParetoPoint> out;
  double best = -std::numeric_limits<double>::infinity();
  for (const ParetoPoint& p : c) {
    if (p.throughput_tokens_per_s_per_gpu > best) {
      out.push_back(p);
      best = p.throughput_tokens_per_s_per_gpu;
    }
  }
  return out;
}

SweepRun run_sweep(const Sweep& s, double max_ttft_s, double max_tpot_s, bool write_csv,
                   const std::function<void(const std::string&)>& sink,
                   const std::function<void(std::size_t, std::size_t)>& progress) {
  SweepRun run;
  run.points = s.size();
  constexpr std::uint64_t kBlock = 1 << 15;
  int threads = 1;
#ifdef _OPENMP
  threads = std::max(1, omp_get_max_threads());
#endif
  std::vector<std::string> text(static_cast<std::size_t>(threads));
  std::vector<std::vector<ParetoPoint>> cand(static_cast<std::size_t>(threads));
  std::vector<std::uint64_t> feasible(static_cast<std::size_t>(threads));
  for (std::uint64_t begin = 0; begin < run.points; begin += kBlock) {
    const std::uint64_t end = std::min(run.points, begin + kBlock);
    // Contiguous slices in thread order: concatenating them gives the rows in point order.
#pragma omp parallel num_threads(threads)
    {
      int t = 0, nt = 1;
#ifdef _OPENMP
      t = omp_get_thread_num();
      nt = omp_get_num_threads();
#endif
      const std::uint64_t n = end - begin, per = (n + nt - 1) / nt;
      const std::uint64_t lo = begin + std::min(n, per * t), hi = begin + std::min(n, per * (t + 1));
      std::string& out = text[t];
      out.clear();
      cand[t].clear();
      for (std::uint64_t i = lo; i < hi; ++i) {
        SweepResult r = s.evaluate(i);
        if (write_csv) s.csv_row(i, r, out);
        if (!r.feasible) continue;
        ++feasible[t];
        if ((max_ttft_s > 0 && r.ttft_s > max_ttft_s) || (max_tpot_s > 0 && r.tpot_s > max_tpot_s)) continue;
        cand[t].push_back(ParetoPoint{i, r.throughput_tokens_per_s_per_gpu, r.tpot_s, r.ttft_s});
      }
    }
    std::vector<ParetoPoint> merged = std::move(run.pareto);
    for (int t = 0; t < threads; ++t) {
      if (write_csv && sink) sink(text[t]);
      merged.insert(merged.end(), cand[t].begin(), cand[t].end());
    }
    run.pareto = pareto_frontier(std::move(merged));
    if (progress) progress(static_cast<std::size_t>(end), static_cast<std::size_t>(run.points));
  }
  for (std::uint64_t f : feasible) run.feasible += f;
  return run;
}

}  // namespace moeplan::perf
