// moeplan::trace — the trace model every other module reads.
// Owns: TraceSet (model facts, domains, requests, the dense routing array) and its invariants.
// Does not parse files (importers do, see import.hpp) and computes no metrics (analysis does).
//
// Layout: the routing of all requests is ONE contiguous array ids[token][moe_layer][k]
// (uint8 when E <= 256, else uint16). A request's tokens are contiguous, prefill first, then
// decode, so a token's phase follows from its position. Router weights, when present, are a
// parallel float array of the same shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace moeplan::trace {

// Called as long work progresses (done <= total), from one thread at a time; may be empty.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

enum class Phase : std::uint8_t { prefill = 0, decode = 1 };
const char* phase_name(Phase p);

struct ModelInfo {
  std::string name;                // free text, e.g. "Llama-4-Maverick-17B-128E"; may be empty
  int num_layers = 0;              // all transformer layers (dense + MoE); 0 when unknown
  std::vector<int> moe_layer_ids;  // original layer index of each MoE layer, ascending
  int num_experts = 0;             // routed experts per MoE layer (E)
  int top_k = 0;                   // experts selected per token and layer (k)

  int moe_layers() const { return static_cast<int>(moe_layer_ids.size()); }
  bool operator==(const ModelInfo&) const = default;
};

struct Request {
  std::string id;                 // unique within the set, e.g. "100" or "prompt_7_data"
  std::uint32_t domain = 0;       // index into TraceSet::domains
  std::string source;             // the file it was imported from (may be empty)
  std::uint64_t token_offset = 0; // index of its first token in the routing array
  std::uint32_t prefill_tokens = 0;
  std::uint32_t decode_tokens = 0;

  std::uint64_t tokens() const { return std::uint64_t{prefill_tokens} + decode_tokens; }
  bool operator==(const Request&) const = default;
};

// The routing ids: either owned or a view into memory kept alive by `owner` (an mmap).
class ExpertIds {
 public:
  ExpertIds() = default;
  static ExpertIds owned(std::vector<std::uint8_t> ids);
  static ExpertIds owned(std::vector<std::uint16_t> ids);
  static ExpertIds view(std::shared_ptr<const void> owner, const void* data, std::size_t count,
                        int width);

  int width() const { return width_; }          // bytes per id: 1 or 2
  std::size_t size() const { return count_; }    // number of ids
  std::size_t bytes() const { return count_ * static_cast<std::size_t>(width_); }
  const void* data() const { return data_; }
  std::uint32_t operator[](std::size_t i) const {
    return width_ == 1 ? static_cast<const std::uint8_t*>(data_)[i]
                       : static_cast<const std::uint16_t*>(data_)[i];
  }
  // Calls f(std::span<const T>) with T = uint8_t or uint16_t: hot loops are written once,
  // as a generic lambda, and compiled for both widths.
  template <class F>
  decltype(auto) visit(F&& f) const {
    if (width_ == 1)
      return f(std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data_), count_));
    return f(std::span<const std::uint16_t>(static_cast<const std::uint16_t*>(data_), count_));
  }
  bool operator==(const ExpertIds& other) const;

 private:
  std::shared_ptr<const void> owner_;
  const void* data_ = nullptr;
  std::size_t count_ = 0;
  int width_ = 1;
};

// Smallest id width (bytes) that holds ids 0..num_experts-1.
int id_width_for(int num_experts);

struct TraceSet {
  ModelInfo model;
  std::vector<std::string> domains;  // labels; Request::domain indexes this
  std::vector<Request> requests;     // in trace order; token_offset ascending and contiguous
  ExpertIds ids;                     // [token][moe_layer][k]
  std::vector<float> weights;        // empty, or one router weight per id
  nlohmann::json provenance = nlohmann::json::object();  // importer, inputs, options (free form)

  std::size_t ids_per_token() const {
    return static_cast<std::size_t>(model.moe_layers()) * static_cast<std::size_t>(model.top_k);
  }
  std::uint64_t num_tokens() const;  // all tokens of all requests
  std::uint64_t prefill_tokens() const;
  std::uint64_t decode_tokens() const;
  bool has_weights() const { return !weights.empty(); }

  // Throws Error{bad_input} naming `what` when an invariant is broken: shapes, offsets,
  // ids < E, domain indices, unique request ids.
  void check(const std::string& what) const;
};

// Exact equality of everything but provenance (used by round-trip tests and `trace validate`).
bool same_content(const TraceSet& a, const TraceSet& b);

}  // namespace moeplan::trace
