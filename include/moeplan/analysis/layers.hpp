// moeplan::analysis — restricting an analysis to some MoE layers (`moeplan analyze --layers`).
// Layers are named by their 0-based position in the MoE-layer list, the index every array of
// the report uses; the selected layers are analysed as if they were the model's only ones.
#pragma once

#include <string>
#include <vector>

#include "moeplan/trace/trace.hpp"

namespace moeplan::analysis {

// "0-5,10" -> {0,1,2,3,4,5,10}: ascending, duplicates merged. Throws Error{usage} for bad
// syntax, reversed ranges or a position >= moe_layers.
std::vector<int> parse_layer_list(const std::string& spec, int moe_layers);

// A copy of `set` with only the MoE layers at `positions` (ascending, distinct, in range):
// ids (and router weights) of the other layers are dropped, moe_layer_ids keeps the chosen
// model layer ids.
trace::TraceSet select_layers(const trace::TraceSet& set, const std::vector<int>& positions);

}  // namespace moeplan::analysis
