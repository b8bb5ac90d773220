// moeplan::analysis — how much routing depends on the request's domain (oracle key
// `domains`, only with >= 2 domain labels): Jensen-Shannon divergence of the domains' load
// distributions, and how well a nearest-centroid classifier recovers a request's domain from
// its routing alone (Paper A: activations reveal the request type, a privacy risk).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

struct Domains {
  std::vector<std::string> labels;        // labels with >= 1 token, ascending
  std::vector<std::uint64_t> requests;    // per label: its requests with >= 1 token
  // js[i][j] for i < j (labels order), in bits, mean over layers.
  std::vector<std::vector<double>> js_divergence;
  std::optional<double> loo_accuracy;     // nullopt when no request could be classified
  std::uint64_t loo_requests = 0;         // requests classified (the denominator)
  std::uint64_t loo_correct = 0;
};

// The number of domain labels that have tokens; compute_domains needs >= 2.
int active_domains(const trace::TraceSet& set);

// Two passes over the routing, parallel over requests; the floating-point sums (domain
// centroids, dot products) run in request order, so the result is identical for any thread
// count. Memory: domains x layers x E, plus layers x E per thread.
Domains compute_domains(const trace::TraceSet& set);

// labels, requests_per_domain, js_divergence {"a|b": ...}, loo_nearest_centroid_accuracy,
// loo_requests.
nlohmann::ordered_json to_json(const Domains& d);

}  // namespace moeplan::analysis
