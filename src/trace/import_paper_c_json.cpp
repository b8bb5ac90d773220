// Importer for the "Orders in Chaos" (Paper C) JSON traces: one file = one request =
// [step0, step1, ...]; step 0 is the prefill, every later step one decode token. A step maps
// layer keys "0".."N" to null (dense layer) or to a list over the step's tokens of
// [expert ids]. See docs/formats.md for the mapping and everything that is validated.
//
// simdjson On-Demand walks the file once, and each id goes straight to its place in the flat
// [token][moe_layer][k] array: no DOM, no per-token allocation. (A DOM parse alone took twice
// as long as this whole walk on the Maverick set: the files are dense with tiny arrays.)
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "trace/import_paper_c_fast.hpp"
#include "trace/import_text.hpp"

namespace moeplan::trace {
namespace {

namespace od = simdjson::ondemand;

constexpr std::uint32_t kMaxLayerKey = 65535;
constexpr std::int64_t kMaxExpertId = 65535;  // ids are stored as uint16
constexpr int kAbsent = -1;                    // slot of a key not listed in step 0
constexpr int kDense = -2;                     // slot of a layer that is null in step 0
constexpr std::size_t kScanK = 16;             // up to this k, repeats are found by a scan

std::string step_name(std::size_t s) { return "step " + std::to_string(s); }

std::string layer_field(std::string_view key) {
  return "layer " + detail::quote_for_message(key);
}

std::string token_field(std::string_view key, std::size_t token) {
  return layer_field(key) + " token " + std::to_string(token);
}

class PaperCReader {
 public:
  PaperCReader(std::span<const char> bytes, const std::string& path)
      : bytes_(bytes), path_(path) {}

  ParsedFile read(const std::string& domain, bool allow_fast) {
    // On-Demand needs SIMDJSON_PADDING readable bytes past the end, so the file is copied into
    // a padded buffer. Parser and buffer are per thread (the driver parses files in parallel)
    // and keep their memory from file to file.
    thread_local od::parser parser;
    thread_local std::vector<char> padded;
    if (padded.size() < bytes_.size() + simdjson::SIMDJSON_PADDING)
      padded.resize(bytes_.size() + simdjson::SIMDJSON_PADDING);
    if (!bytes_.empty()) std::memcpy(padded.data(), bytes_.data(), bytes_.size());
    std::memset(padded.data() + bytes_.size(), 0, simdjson::SIMDJSON_PADDING);
    text_ = padded.data();

    // The common well-formed file takes the fast scanner; anything else the full walk below.
    thread_local detail::PaperCScan scan;
    if (allow_fast && detail::scan_paper_c(text_, bytes_.size(), scan)) return from_scan(scan, domain);

    if (auto e = parser.iterate(padded.data(), bytes_.size(), padded.size()).get(doc_))
      fail_json(e, "", "", "");
    doc_ready_ = true;
    od::array steps;
    if (auto e = doc_.get_array().get(steps))
      fail_json(e, "", "", "expected a JSON array of steps at the top level");
    std::size_t s = 0;
    for (auto step_r : steps) {
      od::object layers;
      if (auto e = step_r.get_object().get(layers))
        fail_json(e, step_name(s), "", "step is not an object of layer keys");
      if (s == 0) {
        learn_layers(layers);
        if (auto e = layers.reset().error()) fail_json(e, step_name(0), "", "");
      }
      read_step(s, layers);
      ++s;
    }
    if (doc_.current_location().error() != simdjson::OUT_OF_BOUNDS)
      throw_bad_input(path_, "", "", "invalid JSON: unexpected content after the array of steps" + at_byte());
    if (s == 0) throw_bad_input(path_, "", "", "empty array: no steps");
    const std::size_t tokens = prefill_ + s - 1;
    if (tokens == 0)
      fail(step_name(0), "", "request has no tokens: the prefill lists 0 tokens and there are no decode steps");
    ids_.resize(tokens * num_moe_ * k_);  // already this size: the last token was the last written

    ParsedFile pf;
    pf.model.num_layers = static_cast<int>(layers_.back().key) + 1;
    for (const auto& l : layers_)
      if (l.moe) pf.model.moe_layer_ids.push_back(static_cast<int>(l.key));
    pf.model.top_k = static_cast<int>(k_);
    pf.model.num_experts = 0;  // not in the file: the driver infers max id + 1
    RequestRouting r;
    r.id = detail::request_id_from_path(path_, ".json");
    r.domain = domain;
    r.source = path_;
    r.prefill_tokens = static_cast<std::uint32_t>(prefill_);
    r.decode_tokens = static_cast<std::uint32_t>(s - 1);
    r.ids = std::move(ids_);
    pf.requests.push_back(std::move(r));
    return pf;
  }

 private:
  ParsedFile from_scan(detail::PaperCScan& scan, const std::string& domain) const {
    ParsedFile pf;
    pf.model.num_layers = static_cast<int>(scan.layer_keys.back()) + 1;
    for (std::size_t i = 0; i < scan.layer_keys.size(); ++i)
      if (scan.layer_is_moe[i]) pf.model.moe_layer_ids.push_back(static_cast<int>(scan.layer_keys[i]));
    pf.model.top_k = static_cast<int>(scan.k);
    pf.model.num_experts = 0;  // not in the file: the driver infers max id + 1
    RequestRouting r;
    r.id = detail::request_id_from_path(path_, ".json");
    r.domain = domain;
    r.source = path_;
    r.prefill_tokens = static_cast<std::uint32_t>(scan.prefill);
    r.decode_tokens = static_cast<std::uint32_t>(scan.decode);
    r.ids = std::move(scan.ids);
    pf.requests.push_back(std::move(r));
    return pf;
  }

  struct Layer {
    std::uint32_t key;
    bool moe;
  };

  [[noreturn]] void fail(const std::string& record, const std::string& field, const std::string& msg) const {
    throw_bad_input(path_, record, field, msg);
  }

  // A simdjson error: a value of the wrong type gets `type_msg`; anything else (or an empty
  // `type_msg`) is reported as malformed JSON, with the byte offset where simdjson stopped.
  [[noreturn]] void fail_json(simdjson::error_code e, const std::string& record,
                              const std::string& field, const std::string& type_msg) {
    if (e == simdjson::INCORRECT_TYPE && !type_msg.empty()) fail(record, field, type_msg);
    fail(record, field, std::string("invalid JSON: ") + simdjson::error_message(e) + at_byte());
  }

  std::string at_byte() {
    const char* where = nullptr;
    // (A document that failed to start has no position: asking it would read a null pointer.)
    if (!doc_ready_ || doc_.current_location().get(where) || where <= text_ || where > text_ + bytes_.size())
      return "";
    return " (near byte " + std::to_string(where - text_) + ")";
  }

  std::uint32_t layer_key(std::size_t step, std::string_view key) const {
    auto k = detail::parse_canonical_uint(key, kMaxLayerKey);
    if (!k) fail(step_name(step), layer_field(key), "layer key is not an integer in 0..65535 (no sign, no leading zeros)");
    return *k;
  }

  // The next field of a step: its key as written (escapes not decoded: a layer key is plain
  // digits, anything else is refused by layer_key) and its value.
  std::string_view field_of(std::size_t s, simdjson::simdjson_result<od::field>& field_r, od::value& value) {
    od::field field;
    if (auto e = std::move(field_r).get(field)) fail_json(e, step_name(s), "", "");
    // Stage 1 has checked that every string is closed, so the closing quote is in the text.
    const char* begin = field.key().raw();
    const char* end = text_ + bytes_.size();
    const char* p = begin;
    while (p < end && *p != '"') p += (*p == '\\') ? 2 : 1;
    value = field.value();
    return {begin, static_cast<std::size_t>(std::min(p, end) - begin)};
  }

  // Step 0 fixes the layer table: every key is a layer, null ones are dense, the others MoE.
  void learn_layers(od::object& step0) {
    for (auto field_r : step0) {
      od::value value;
      const std::string_view key = field_of(0, field_r, value);
      const std::uint32_t id = layer_key(0, key);
      od::json_type type;
      if (auto e = value.type().get(type)) fail_json(e, step_name(0), layer_field(key), "");
      if (type != od::json_type::null && type != od::json_type::array)
        fail(step_name(0), layer_field(key), "layer value must be null (dense) or a list of tokens (MoE)");
      layers_.push_back({id, type == od::json_type::array});
    }
    if (layers_.empty()) fail(step_name(0), "", "step has no layer keys");
    std::sort(layers_.begin(), layers_.end(),
              [](const Layer& a, const Layer& b) { return a.key < b.key; });
    slot_.assign(layers_.back().key + 1, kAbsent);
    seen_in_step_.assign(layers_.back().key + 1, 0);
    for (const auto& l : layers_) {
      if (slot_[l.key] != kAbsent)
        fail(step_name(0), layer_field(std::to_string(l.key)), "duplicate layer key");
      slot_[l.key] = l.moe ? static_cast<int>(num_moe_++) : kDense;
    }
    if (num_moe_ == 0) fail(step_name(0), "", "no MoE layers: every layer is null");
  }

  void read_step(std::size_t s, od::object& layers) {
    const auto stamp = static_cast<std::uint32_t>(s + 1);
    std::size_t listed = 0;
    bool first_moe = true;
    for (auto field_r : layers) {
      od::value value;
      const std::string_view key = field_of(s, field_r, value);
      const std::uint32_t id = layer_key(s, key);
      if (id >= slot_.size() || slot_[id] == kAbsent)
        fail(step_name(s), layer_field(key), "layer key not in step 0 (every step must list the same layers)");
      if (seen_in_step_[id] == stamp) fail(step_name(s), layer_field(key), "duplicate layer key");
      seen_in_step_[id] = stamp;
      ++listed;
      const int moe = slot_[id];
      bool is_null = false;  // consumes a null (and catches a bad literal such as `nul`)
      if (auto e = value.is_null().get(is_null)) fail_json(e, step_name(s), layer_field(key), "");
      if (moe == kDense) {
        if (!is_null)
          fail(step_name(s), layer_field(key), "layer is null in step 0 but not here (MoE layers must be the same in every step)");
        continue;
      }
      if (is_null)
        fail(step_name(s), layer_field(key), "layer is null here but a MoE layer in step 0 (MoE layers must be the same in every step)");
      od::array tokens;
      if (auto e = value.get_array().get(tokens))
        fail_json(e, step_name(s), layer_field(key), "layer value must be null (dense) or a list of tokens (MoE)");
      // Token position in the request: prefill tokens first, then one per decode step.
      const std::size_t base = s == 0 ? 0 : prefill_ + s - 1;
      std::size_t t = 0;
      for (auto entry_r : tokens) {
        if (s > 0 && t == 1)
          fail(step_name(s), layer_field(key), "decode step lists more than 1 token (expected exactly 1)");
        read_token(s, key, t, (base + t) * num_moe_ + static_cast<std::size_t>(moe), entry_r);
        ++t;
      }
      if (s > 0 && t != 1)
        fail(step_name(s), layer_field(key), "decode step lists 0 tokens (expected exactly 1)");
      if (s == 0 && first_moe) prefill_ = t;
      else if (s == 0 && t != prefill_)
        fail(step_name(0), layer_field(key), "lists " + std::to_string(t) + " tokens; the first MoE layer of this step lists " + std::to_string(prefill_));
      first_moe = false;
    }
    if (listed != layers_.size())
      for (const auto& l : layers_)
        if (seen_in_step_[l.key] != stamp)
          fail(step_name(s), layer_field(std::to_string(l.key)), "layer key missing (every step must list the same layers as step 0)");
  }

  // One token's expert list, written to `cell` (token * MoE layers + layer) of the flat
  // array. The first token fixes k. The array grows with the tokens actually read, so a
  // hostile file cannot make it allocate more than its own size suggests.
  void read_token(std::size_t s, std::string_view key, std::size_t t, std::size_t cell,
                  simdjson::simdjson_result<od::value>& entry_r) {
    od::array experts;
    if (auto e = entry_r.get_array().get(experts))
      fail_json(e, step_name(s), token_field(key, t), "token entry is not a list of expert ids");
    if (k_ == 0) {
      if (auto e = experts.count_elements().get(k_)) fail_json(e, step_name(s), token_field(key, t), "");
      if (k_ == 0) fail(step_name(s), token_field(key, t), "token lists no experts");
    }
    const std::size_t need = (cell / num_moe_ + 1) * num_moe_ * k_;
    if (ids_.size() < need) ids_.resize(need);
    std::uint16_t* dst = ids_.data() + cell * k_;
    std::size_t j = 0;  // ids seen; only the first k are kept (more is an error below)
    for (auto id_r : experts) {
      od::value v;
      std::int64_t id = 0;
      if (auto e = std::move(id_r).get(v)) fail_json(e, step_name(s), token_field(key, t), "");
      if (v.get_int64().get(id) || id < 0 || id > kMaxExpertId) {
        std::string_view raw = v.raw_json_token();
        while (!raw.empty() && std::string_view(" \t\r\n").find(raw.back()) != std::string_view::npos)
          raw.remove_suffix(1);
        fail(step_name(s), token_field(key, t), "expert id " + detail::quote_for_message(raw) + " is not an integer in 0..65535");
      }
      if (j < k_) {
        const auto e = static_cast<std::uint16_t>(id);
        // Repeats: a scan for the usual small k, a bit set for large k.
        const bool repeat = k_ <= kScanK ? std::find(dst, dst + j, e) != dst + j : !token_set_.insert(e);
        if (repeat) fail(step_name(s), token_field(key, t), "expert id " + std::to_string(id) + " is listed twice");
        dst[j] = e;
      }
      ++j;
    }
    if (k_ > kScanK) token_set_.erase(dst, dst + std::min(j, k_));
    if (j != k_)
      fail(step_name(s), token_field(key, t), "token lists " + std::to_string(j) + " experts, expected " + std::to_string(k_) + " (top-k must be the same for every token)");
  }

  std::span<const char> bytes_;
  const std::string& path_;
  const char* text_ = nullptr;  // the padded copy simdjson reads
  od::document doc_;
  bool doc_ready_ = false;      // doc_ was started by iterate()
  std::size_t prefill_ = 0;     // tokens of step 0
  std::size_t num_moe_ = 0;
  std::size_t k_ = 0;           // 0 until the first token entry
  std::vector<Layer> layers_;               // step 0's keys, ascending
  std::vector<int> slot_;                   // layer key -> MoE index, kDense or kAbsent
  std::vector<std::uint32_t> seen_in_step_; // layer key -> last step (+1) that listed it
  detail::TokenIdSet token_set_;            // ids of the current token when k > kScanK
  std::vector<std::uint16_t> ids_;          // [token][moe_layer][k]
};

}  // namespace

ParsedFile parse_paper_c_json(std::span<const char> bytes, const std::string& path,
                              const std::string& domain) {
  return PaperCReader(bytes, path).read(domain, true);
}

namespace detail {

ParsedFile parse_paper_c_json_full(std::span<const char> bytes, const std::string& path,
                                   const std::string& domain) {
  return PaperCReader(bytes, path).read(domain, false);
}

}  // namespace detail
}  // namespace moeplan::trace
