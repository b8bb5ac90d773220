#include "moeplan/analysis/layers.hpp"

#include <algorithm>
#include <charconv>

#include "moeplan/io/error.hpp"

namespace moeplan::analysis {
namespace {

[[noreturn]] void bad(const std::string& spec, const std::string& why) {
  throw Error(ErrorKind::usage, {}, "--layers \"" + spec + "\": " + why);
}

int parse_position(const std::string& spec, std::string_view s, int moe_layers) {
  int v = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v < 0)
    bad(spec, "expected MoE-layer positions like 0-5,10");
  if (v >= moe_layers)
    bad(spec, "position " + std::to_string(v) + " is out of range (the trace has " +
                  std::to_string(moe_layers) + " MoE layers, positions 0.." +
                  std::to_string(moe_layers - 1) + ")");
  return v;
}

}  // namespace

std::vector<int> parse_layer_list(const std::string& spec, int moe_layers) {
  std::vector<int> out;
  std::string_view rest = spec;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto dash = item.find('-');
    const int lo = parse_position(spec, item.substr(0, dash), moe_layers);
    const int hi = dash == std::string_view::npos ? lo : parse_position(spec, item.substr(dash + 1), moe_layers);
    if (hi < lo) bad(spec, "reversed range");
    for (int l = lo; l <= hi; ++l) out.push_back(l);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

trace::TraceSet select_layers(const trace::TraceSet& set, const std::vector<int>& positions) {
  const int K = set.model.top_k;
  const std::size_t per_token = set.ids_per_token();
  const std::size_t keep = positions.size() * static_cast<std::size_t>(K);
  const std::uint64_t tokens = set.num_tokens();

  trace::TraceSet out;
  out.model = set.model;
  out.model.moe_layer_ids.clear();
  for (int p : positions) out.model.moe_layer_ids.push_back(set.model.moe_layer_ids[static_cast<std::size_t>(p)]);
  out.domains = set.domains;
  out.requests = set.requests;
  out.provenance = set.provenance;
  // Copies the kept layers' slots of every token: [token][kept layer][k].
  auto gather = [&](auto src, auto& dst) {
    dst.resize(tokens * keep);
    for (std::uint64_t t = 0; t < tokens; ++t)
      for (std::size_t i = 0; i < positions.size(); ++i)
        std::copy_n(src + t * per_token + static_cast<std::size_t>(positions[i]) * K, K,
                    dst.data() + t * keep + i * K);
  };
  set.ids.visit([&](auto ids) {
    std::vector<std::remove_const_t<typename decltype(ids)::element_type>> v;
    gather(ids.data(), v);
    out.ids = trace::ExpertIds::owned(std::move(v));
  });
  if (set.has_weights()) gather(set.weights.data(), out.weights);
  return out;
}

}  // namespace moeplan::analysis
