// moeplan::trace — subsets of a trace set by request: the held-out splits that placement and
// grouping are fitted and scored on (a placement fitted and scored on the same requests
// overstates its value).
#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "moeplan/trace/trace.hpp"

namespace moeplan::trace {

// A new set holding the given requests (indices into set.requests, in the order given), their
// routing copied contiguously; model, domains and weights carried over. Throws Error{usage}
// for an index out of range or repeated.
TraceSet select_requests(const TraceSet& set, std::span<const std::size_t> indices);

// Even-indexed requests (fit) and odd-indexed requests (eval): interleaving keeps both halves
// balanced across domains and files, which are stored in order.
std::pair<TraceSet, TraceSet> split_even_odd(const TraceSet& set);

}  // namespace moeplan::trace
