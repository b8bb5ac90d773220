// Request subsets of a trace set (held-out splits).
#include "moeplan/trace/select.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"

namespace moeplan::trace {

TraceSet select_requests(const TraceSet& set, std::span<const std::size_t> indices) {
  TraceSet out;
  out.model = set.model;
  out.domains = set.domains;
  out.provenance = set.provenance;
  out.provenance["selected_requests"] = indices.size();
  const std::size_t per_token = set.ids_per_token();
  const std::size_t width = static_cast<std::size_t>(set.ids.width());
  std::vector<char> seen(set.requests.size(), 0);
  std::uint64_t tokens = 0;
  for (std::size_t i : indices) {
    if (i >= set.requests.size())
      throw Error(ErrorKind::usage, {}, "request index " + std::to_string(i) + " is out of range (" +
                                            std::to_string(set.requests.size()) + " requests)");
    if (seen[i]++) throw Error(ErrorKind::usage, {}, "request index " + std::to_string(i) + " selected twice");
    tokens += set.requests[i].tokens();
  }
  std::vector<std::uint8_t> bytes(tokens * per_token * width);
  std::vector<float> weights(set.has_weights() ? tokens * per_token : 0);
  std::uint64_t offset = 0;
  const auto* src = static_cast<const std::uint8_t*>(set.ids.data());
  for (std::size_t i : indices) {
    Request r = set.requests[i];
    const std::size_t n = r.tokens() * per_token;
    if (n) std::memcpy(bytes.data() + offset * per_token * width, src + r.token_offset * per_token * width, n * width);
    if (set.has_weights() && n)
      std::memcpy(weights.data() + offset * per_token, set.weights.data() + r.token_offset * per_token, n * sizeof(float));
    r.token_offset = offset;
    offset += r.tokens();
    out.requests.push_back(std::move(r));
  }
  if (width == 1) {
    out.ids = ExpertIds::owned(std::move(bytes));
  } else {
    std::vector<std::uint16_t> wide(bytes.size() / 2);
    if (!wide.empty()) std::memcpy(wide.data(), bytes.data(), bytes.size());
    out.ids = ExpertIds::owned(std::move(wide));
  }
  out.weights = std::move(weights);
  return out;
}

std::pair<TraceSet, TraceSet> split_even_odd(const TraceSet& set) {
  std::vector<std::size_t> even, odd;
  for (std::size_t i = 0; i < set.requests.size(); ++i) (i % 2 ? odd : even).push_back(i);
  return {select_requests(set, even), select_requests(set, odd)};
}

}  // namespace moeplan::trace
