// SynthParams: length specs, validation and the JSON form (`--print-params`, `--params`).
#include <fmt/format.h>

#include <cmath>
#include <sstream>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/synth.hpp"

namespace moeplan::trace {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}

double number(const std::string& spec, const std::string& s) {
  try {
    std::size_t used = 0;
    double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v) && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw_usage("bad length \"" + spec + "\": \"" + s + "\" is not a non-negative number");
}

}  // namespace

LengthDist LengthDist::parse(const std::string& spec) {
  auto parts = split(spec, ':');
  LengthDist d;
  if (parts.size() == 1 || (parts.size() == 2 && parts[0] == "fixed")) {
    d.kind = Kind::fixed;
    d.mean = number(spec, parts.back());
  } else if (parts.size() == 3 && parts[0] == "uniform") {
    d.kind = Kind::uniform;
    d.lo = static_cast<std::uint32_t>(number(spec, parts[1]));
    d.hi = static_cast<std::uint32_t>(number(spec, parts[2]));
    if (d.hi < d.lo) throw_usage("bad length \"" + spec + "\": uniform range is empty");
  } else if (parts.size() == 3 && parts[0] == "lognormal") {
    d.kind = Kind::lognormal;
    d.mean = number(spec, parts[1]);
    d.sigma = number(spec, parts[2]);
  } else {
    throw_usage("bad length \"" + spec + "\" (expected N, fixed:N, uniform:A:B or lognormal:MEAN:SIGMA)");
  }
  return d;
}

std::string LengthDist::spec() const {
  switch (kind) {
    case Kind::fixed: return fmt::format("fixed:{}", mean);
    case Kind::uniform: return fmt::format("uniform:{}:{}", lo, hi);
    case Kind::lognormal: return fmt::format("lognormal:{}:{}", mean, sigma);
  }
  return {};
}

void SynthParams::validate() const {
  auto bad = [](const std::string& m) { throw_usage("synthetic trace parameters: " + m); };
  if (layers < 1) bad("layers must be >= 1");
  if (experts < 1 || experts > 65535) bad("experts must be in 1..65535");
  if (top_k < 1 || top_k > experts) bad("top-k must be in 1..experts");
  if (domains.empty()) bad("at least one domain");
  if (!moe_layer_ids.empty() && static_cast<int>(moe_layer_ids.size()) != layers)
    bad("moe_layer_ids must have one id per MoE layer");
  for (double v : {stickiness, affinity, decode_mix})
    if (!(v >= 0 && v <= 1)) bad("stickiness, affinity and decode_mix must be in [0, 1]");
  if (!(affinity_sharpness > 0 && affinity_sharpness <= 64)) bad("affinity_sharpness must be in (0, 64]");
  if (!(skew >= 0) || !(skew_spread >= 0) || !(domain_shift >= 0) || !(decode_shift >= 0))
    bad("skew, skew_spread, domain_shift and decode_shift must be >= 0");
  const std::size_t per_phase = static_cast<std::size_t>(layers) * experts;
  if (!popularity.empty() && popularity.size() != domains.size() * 2 * per_phase)
    bad("popularity must be [domains][2][layers][experts]");
  for (double w : popularity)
    if (!(w >= 0) || !std::isfinite(w)) bad("popularity weights must be finite and >= 0");
  if (!affinity_map.empty()) {
    const std::size_t shared = static_cast<std::size_t>(layers - 1) * experts;
    if (affinity_map.size() != shared && affinity_map.size() != domains.size() * 2 * shared)
      bad("affinity_map must be [layers - 1][experts] or [domains][2][layers - 1][experts]");
    for (const auto& row : affinity_map)
      for (const auto& [b, w] : row)
        if (b < 0 || b >= experts || !(w >= 0)) bad("affinity_map partner out of range");
  }
  if (!affinity_bias.empty() && affinity_bias.size() != 2 * per_phase) bad("affinity_bias must be [2][layers][experts]");
  for (double w : affinity_bias)
    if (!(w > 0) || !std::isfinite(w)) bad("affinity_bias multipliers must be finite and > 0");
  for (const auto& s : shapes)
    if (s.domain >= domains.size()) bad("a request shape names a missing domain");
}

nlohmann::json params_to_json(const SynthParams& p) {
  nlohmann::json j;
  j["format"] = "moeplan-synth-params";
  j["version"] = 1;
  j["requests"] = p.requests;
  j["layers"] = p.layers;
  j["experts"] = p.experts;
  j["top_k"] = p.top_k;
  j["moe_layer_ids"] = p.moe_layer_ids;
  j["num_layers"] = p.num_layers;
  j["model_name"] = p.model_name;
  j["domains"] = p.domains;
  j["prefill_tokens"] = p.prefill.spec();
  j["decode_tokens"] = p.decode.spec();
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& s : p.shapes) shapes.push_back({s.prefill, s.decode, s.domain});
  j["shapes"] = shapes;  // [prefill, decode, domain] per request
  j["seed"] = p.seed;
  j["skew"] = p.skew;
  j["skew_spread"] = p.skew_spread;
  j["domain_shift"] = p.domain_shift;
  j["decode_shift"] = p.decode_shift;
  j["stickiness"] = p.stickiness;
  j["affinity"] = p.affinity;
  j["affinity_sharpness"] = p.affinity_sharpness;
  j["affinity_partners"] = p.affinity_partners;
  j["decode_mix"] = p.decode_mix;
  j["popularity"] = p.popularity;
  nlohmann::json map = nlohmann::json::array();
  for (const auto& row : p.affinity_map) {
    nlohmann::json r = nlohmann::json::array();
    for (const auto& [b, w] : row) r.push_back({b, w});
    map.push_back(r);
  }
  j["affinity_map"] = map;  // rows -> [[partner, weight], ...]
  j["affinity_bias"] = p.affinity_bias;
  j["fit"] = p.fit;
  return j;
}

SynthParams params_from_json(const nlohmann::json& j, const std::string& what) {
  SynthParams p;
  try {
    if (j.value("format", "") != "moeplan-synth-params")
      throw_bad_input(what, "", "format", "not a moeplan synthetic-parameter file");
    // Every key is optional: missing ones keep their defaults.
    auto get = [&](const char* key, auto& field) {
      if (j.contains(key)) field = j.at(key).get<std::remove_reference_t<decltype(field)>>();
    };
    get("requests", p.requests);
    get("layers", p.layers);
    get("experts", p.experts);
    get("top_k", p.top_k);
    get("moe_layer_ids", p.moe_layer_ids);
    get("num_layers", p.num_layers);
    get("model_name", p.model_name);
    get("domains", p.domains);
    if (j.contains("prefill_tokens")) p.prefill = LengthDist::parse(j.at("prefill_tokens").get<std::string>());
    if (j.contains("decode_tokens")) p.decode = LengthDist::parse(j.at("decode_tokens").get<std::string>());
    if (j.contains("shapes"))
      for (const auto& s : j.at("shapes"))
        p.shapes.push_back({s.at(0).get<std::uint32_t>(), s.at(1).get<std::uint32_t>(), s.at(2).get<std::uint32_t>()});
    get("seed", p.seed);
    get("skew", p.skew);
    get("skew_spread", p.skew_spread);
    get("domain_shift", p.domain_shift);
    get("decode_shift", p.decode_shift);
    get("stickiness", p.stickiness);
    get("affinity", p.affinity);
    get("affinity_sharpness", p.affinity_sharpness);
    get("affinity_partners", p.affinity_partners);
    get("decode_mix", p.decode_mix);
    get("popularity", p.popularity);
    get("affinity_bias", p.affinity_bias);
    if (j.contains("fit")) p.fit = j.at("fit");
    if (j.contains("affinity_map"))
      for (const auto& row : j.at("affinity_map")) {
        auto& r = p.affinity_map.emplace_back();
        for (const auto& e : row) r.emplace_back(e.at(0).get<int>(), e.at(1).get<double>());
      }
    p.validate();
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(what, "", "", std::string("bad parameter JSON: ") + e.what());
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::usage) throw_bad_input(what, "", "", e.message());
    throw;
  }
  return p;
}

}  // namespace moeplan::trace
