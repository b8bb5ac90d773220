#include "moeplan/trace/trace.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "moeplan/io/error.hpp"

namespace moeplan::trace {

const char* phase_name(Phase p) { return p == Phase::prefill ? "prefill" : "decode"; }

ExpertIds ExpertIds::owned(std::vector<std::uint8_t> ids) {
  auto holder = std::make_shared<std::vector<std::uint8_t>>(std::move(ids));
  return view(holder, holder->data(), holder->size(), 1);
}

ExpertIds ExpertIds::owned(std::vector<std::uint16_t> ids) {
  auto holder = std::make_shared<std::vector<std::uint16_t>>(std::move(ids));
  return view(holder, holder->data(), holder->size(), 2);
}

ExpertIds ExpertIds::view(std::shared_ptr<const void> owner, const void* data, std::size_t count,
                          int width) {
  ExpertIds out;
  out.owner_ = std::move(owner);
  out.data_ = data;
  out.count_ = count;
  out.width_ = width;
  return out;
}

bool ExpertIds::operator==(const ExpertIds& other) const {
  if (count_ != other.count_) return false;
  if (width_ == other.width_) return count_ == 0 || std::memcmp(data_, other.data_, bytes()) == 0;
  for (std::size_t i = 0; i < count_; ++i)
    if ((*this)[i] != other[i]) return false;
  return true;
}

int id_width_for(int num_experts) { return num_experts <= 256 ? 1 : 2; }

std::uint64_t TraceSet::num_tokens() const { return prefill_tokens() + decode_tokens(); }

std::uint64_t TraceSet::prefill_tokens() const {
  std::uint64_t n = 0;
  for (const auto& r : requests) n += r.prefill_tokens;
  return n;
}

std::uint64_t TraceSet::decode_tokens() const {
  std::uint64_t n = 0;
  for (const auto& r : requests) n += r.decode_tokens;
  return n;
}

void TraceSet::check(const std::string& what) const {
  auto fail = [&](const std::string& record, const std::string& field, const std::string& msg) {
    throw_bad_input(what, record, field, msg);
  };
  if (model.top_k <= 0) fail("model", "top_k", "must be positive");
  if (model.num_experts <= 0 || model.num_experts > 65535)
    fail("model", "experts", "must be in 1..65535");
  if (model.top_k > model.num_experts) fail("model", "top_k", "exceeds the number of experts");
  if (model.moe_layer_ids.empty()) fail("model", "moe_layer_ids", "no MoE layers");
  for (std::size_t i = 1; i < model.moe_layer_ids.size(); ++i)
    if (model.moe_layer_ids[i] <= model.moe_layer_ids[i - 1])
      fail("model", "moe_layer_ids", "must be strictly ascending");
  if (model.moe_layer_ids.front() < 0) fail("model", "moe_layer_ids", "negative layer id");
  if (model.num_layers != 0 && model.moe_layer_ids.back() >= model.num_layers)
    fail("model", "num_layers", "smaller than the largest MoE layer id");
  if (ids.size() != 0 && ids.width() != id_width_for(model.num_experts) && ids.width() != 2)
    fail("model", "id_width", "does not hold the expert ids");

  std::uint64_t offset = 0;
  std::unordered_set<std::string> seen;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const Request& q = requests[r];
    std::string rec = "request " + std::to_string(r);
    if (q.token_offset != offset) fail(rec, "token_offset", "requests are not contiguous");
    if (q.domain >= domains.size()) fail(rec, "domain", "index out of range");
    if (!seen.insert(q.id).second) fail(rec, "id", "duplicate request id \"" + q.id + "\"");
    offset += q.tokens();
  }
  if (offset * ids_per_token() != ids.size())
    fail("routing", "ids", "size does not match the requests' token counts");
  if (!weights.empty() && weights.size() != ids.size())
    fail("routing", "weights", "size differs from the ids");
  const auto experts = static_cast<std::uint32_t>(model.num_experts);
  ids.visit([&](auto span) {
    // A branch-free max first (vectorises); locate the offender only when there is one.
    std::uint32_t max_id = 0;
    for (auto v : span) max_id = std::max<std::uint32_t>(max_id, v);
    if (max_id < experts) return;
    for (std::size_t i = 0; i < span.size(); ++i)
      if (span[i] >= experts)
        fail("token " + std::to_string(i / ids_per_token()), "expert",
             "id " + std::to_string(span[i]) + " >= experts (" + std::to_string(experts) + ")");
  });
}

bool same_content(const TraceSet& a, const TraceSet& b) {
  return a.model == b.model && a.domains == b.domains && a.requests == b.requests &&
         a.ids == b.ids && a.weights == b.weights;
}

}  // namespace moeplan::trace
