#include "moeplan/trace/summary.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace moeplan::trace {
namespace {

nlohmann::json spread(std::vector<std::uint32_t> v) {
  if (v.empty()) return {{"min", 0}, {"median", 0}, {"max", 0}};
  std::sort(v.begin(), v.end());
  return {{"min", v.front()}, {"median", v[v.size() / 2]}, {"max", v.back()}};
}

}  // namespace

nlohmann::json info_json(const TraceSet& set) {
  nlohmann::json j;
  j["model"] = set.model.name;
  j["num_layers"] = set.model.num_layers;
  j["moe_layer_ids"] = set.model.moe_layer_ids;
  j["moe_layers"] = set.model.moe_layers();
  j["experts"] = set.model.num_experts;
  j["top_k"] = set.model.top_k;
  j["id_bytes"] = set.ids.width();
  j["requests"] = set.requests.size();
  j["prefill_tokens"] = set.prefill_tokens();
  j["decode_tokens"] = set.decode_tokens();
  j["tokens"] = set.num_tokens();
  j["token_layers"] = set.num_tokens() * static_cast<std::uint64_t>(set.model.moe_layers());
  j["routing_bytes"] = set.ids.bytes();
  j["has_weights"] = set.has_weights();
  nlohmann::json domains = nlohmann::json::object();
  std::vector<std::uint64_t> per_domain(set.domains.size(), 0);
  std::vector<std::uint32_t> pre, dec;
  for (const auto& r : set.requests) {
    ++per_domain[r.domain];
    pre.push_back(r.prefill_tokens);
    dec.push_back(r.decode_tokens);
  }
  for (std::size_t d = 0; d < set.domains.size(); ++d) domains[set.domains[d]] = per_domain[d];
  j["domains"] = domains;
  j["prefill_per_request"] = spread(pre);
  j["decode_per_request"] = spread(dec);
  return j;
}

std::string info_text(const TraceSet& set) {
  nlohmann::json j = info_json(set);
  std::string out;
  out += fmt::format("model          {}\n", set.model.name.empty() ? "(unnamed)" : set.model.name);
  out += fmt::format("layers         {} total, {} MoE (ids {}..{})\n",
                     set.model.num_layers == 0 ? std::string("?") : std::to_string(set.model.num_layers),
                     set.model.moe_layers(), set.model.moe_layer_ids.front(),
                     set.model.moe_layer_ids.back());
  out += fmt::format("experts        {} routed per layer, top-{}\n", set.model.num_experts, set.model.top_k);
  out += fmt::format("requests       {}\n", set.requests.size());
  out += fmt::format("tokens         {} prefill + {} decode = {}\n", set.prefill_tokens(),
                     set.decode_tokens(), set.num_tokens());
  auto& p = j["prefill_per_request"];
  auto& d = j["decode_per_request"];
  out += fmt::format("per request    prefill {}..{} (median {}), decode {}..{} (median {})\n",
                     p["min"].get<int>(), p["max"].get<int>(), p["median"].get<int>(),
                     d["min"].get<int>(), d["max"].get<int>(), d["median"].get<int>());
  out += fmt::format("routing        {} token-layers, {} bytes ({} B/id){}\n",
                     j["token_layers"].get<std::uint64_t>(), set.ids.bytes(), set.ids.width(),
                     set.has_weights() ? ", with router weights" : "");
  out += "domains       ";
  for (const auto& [label, n] : j["domains"].items()) out += fmt::format(" {} ({})", label, n.get<int>());
  out += "\n";
  return out;
}

}  // namespace moeplan::trace
