// moeplan JSONL: a header line, then one JSON object per request (docs/formats.md).
// Read line by line with simdjson On-Demand (each line is its own document, so a bad line is
// reported by number and memory stays bounded by the longest line); written by write_jsonl.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include <omp.h>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "moeplan/trace/jsonl.hpp"

namespace moeplan::trace {
namespace {

namespace od = simdjson::ondemand;

constexpr int kVersion = 1;

// Parses single lines against a known header; one per thread (its simdjson parser and
// scratch are not shared). The header line itself is parsed by the first one.
class LineParser {
 public:
  LineParser(const std::string& path, const std::string& domain) : path_(path), domain_(domain) {}

  // The header line (`line_no` counts from 1); blank lines are the caller's business.
  ModelInfo header(std::string_view line, std::size_t line_no) {
    line_ = line_no;
    od::document doc = load(line);
    read_header(doc);
    finish_line(doc);
    return model_;
  }
  void set_model(const ModelInfo& m) {
    model_ = m;
    seen_stamp_.assign(static_cast<std::size_t>(m.num_experts), 0);
  }
  // A request line; nullopt when the line is blank.
  std::optional<RequestRouting> request(std::string_view line, std::size_t line_no) {
    line_ = line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return std::nullopt;
    od::document doc = load(line);
    RequestRouting r = read_request(doc);
    finish_line(doc);
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw_bad_input(path_, line_ ? "line " + std::to_string(line_) : std::string(), field, message);
  }
  // `what` describes a value of the wrong type; other errors are broken JSON (a truncated
  // line, say), reported with simdjson's own message.
  void check(simdjson::error_code e, const std::string& field, const char* what = nullptr) const {
    if (!e) return;
    const bool type_error = e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR ||
                            e == simdjson::NUMBER_OUT_OF_RANGE;
    if (what && type_error) fail(field, what);
    fail(field, std::string("invalid JSON: ") + simdjson::error_message(e));
  }

  od::document load(std::string_view line) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end; give it a padded copy.
    buf_.assign(line.data(), line.size());
    buf_.resize(line.size() + simdjson::SIMDJSON_PADDING, '\0');
    od::document doc;
    check(parser_.iterate(buf_.data(), line.size(), buf_.size()).get(doc), "");
    return doc;
  }

  std::uint64_t get_uint(od::value v, const std::string& field, std::uint64_t max) const {
    std::uint64_t n = 0;
    check(v.get_uint64().get(n), field, "must be a non-negative integer");
    if (n > max) fail(field, "must be at most " + std::to_string(max));
    return n;
  }
  std::string get_string(od::value v, const std::string& field) const {
    std::string_view s;
    check(v.get_string().get(s), field, "must be a string");
    return std::string(s);
  }
  od::array get_array(od::value v, const std::string& field) const {
    od::array a;
    check(v.get_array().get(a), field, "must be an array");
    return a;
  }

  // Calls f(key, value) for each field of the line's object, rejecting repeated keys.
  template <class F>
  void for_each_field(od::document& doc, F&& f) {
    od::object obj;
    check(doc.get_object().get(obj), "", "each line must be a JSON object");
    std::set<std::string, std::less<>> keys;
    for (auto field : obj) {
      std::string_view key;
      check(field.unescaped_key().get(key), "");
      std::string k(key);
      if (!keys.insert(k).second) fail(k, "duplicate key");
      od::value v;
      check(field.value().get(v), k);
      f(k, v);
    }
  }

  void read_header(od::document& doc) {
    // Look for the version key first so that a file without a header gets a clear message
    // rather than "unknown key" about some request field.
    od::value version;
    if (doc.find_field_unordered("moeplan_jsonl").get(version))
      fail("moeplan_jsonl", "missing header: the first line must be {\"moeplan_jsonl\": 1, ...}");
    doc.rewind();
    bool has_version = false, has_layers = false, has_experts = false, has_k = false;
    ModelInfo& m = model_;
    for_each_field(doc, [&](const std::string& key, od::value v) {
      if (key == "moeplan_jsonl") {
        if (get_uint(v, key, std::numeric_limits<std::uint64_t>::max()) != kVersion)
          fail(key, "unsupported version (this reader understands 1)");
        has_version = true;
      } else if (key == "model") {
        m.name = get_string(v, key);
      } else if (key == "num_layers") {
        m.num_layers = static_cast<int>(get_uint(v, key, 65535));
      } else if (key == "moe_layer_ids") {
        for (auto e : get_array(v, key)) {
          od::value ev;
          check(e.get(ev), key);
          m.moe_layer_ids.push_back(static_cast<int>(get_uint(ev, key, 65535)));
          if (m.moe_layer_ids.size() > 1 && m.moe_layer_ids.back() <= m.moe_layer_ids.end()[-2])
            fail(key, "must be strictly ascending");
        }
        has_layers = true;
      } else if (key == "num_experts") {
        m.num_experts = static_cast<int>(get_uint(v, key, 65535));
        has_experts = true;
      } else if (key == "top_k") {
        m.top_k = static_cast<int>(get_uint(v, key, 65535));
        has_k = true;
      } else {
        fail(key, "unknown header key (expected moeplan_jsonl, model, num_layers, moe_layer_ids, "
                  "num_experts, top_k)");
      }
    });
    if (!has_version) fail("moeplan_jsonl", "missing");
    if (!has_layers || m.moe_layer_ids.empty()) fail("moe_layer_ids", "missing or empty");
    if (!has_experts || m.num_experts < 1) fail("num_experts", "missing or 0");
    if (!has_k || m.top_k < 1) fail("top_k", "missing or 0");
    if (m.top_k > m.num_experts) fail("top_k", "exceeds num_experts");
    if (m.num_layers != 0 && m.moe_layer_ids.back() >= m.num_layers)
      fail("num_layers", "not above the largest MoE layer id");
    seen_stamp_.assign(static_cast<std::size_t>(m.num_experts), 0);
  }

  // Where a value sits in a [token][layer][slot] nest. Built for every value, so it holds
  // indices only; the field name text is made when a message needs it.
  struct NestPos {
    static constexpr std::size_t none = static_cast<std::size_t>(-1);
    const std::string* name;
    std::size_t t = 0, l = none, s = none;
    std::string str() const {
      std::string out = *name + "[" + std::to_string(t) + "]";
      if (l != none) out += "[" + std::to_string(l) + "]";
      if (s != none) out += "[" + std::to_string(s) + "]";
      return out;
    }
  };
  void check(simdjson::error_code e, const NestPos& at, const char* what = nullptr) const {
    if (e) check(e, at.str(), what);
  }

  // Walks one [token][layer][slot] nest, checking its shape, and calls leaf(value, pos) for
  // each slot. Returns the number of tokens.
  template <class Leaf>
  std::uint32_t read_nest(od::value v, const std::string& name, Leaf&& leaf) {
    const std::size_t layers = static_cast<std::size_t>(model_.moe_layers());
    const std::size_t k = static_cast<std::size_t>(model_.top_k);
    std::uint32_t t = 0;
    for (auto token : get_array(v, name)) {
      const NestPos tpos{&name, t};
      od::value tv;
      check(token.get(tv), tpos);
      od::array token_layers;
      check(tv.get_array().get(token_layers), tpos, "must be an array");
      std::size_t l = 0;
      for (auto layer : token_layers) {
        if (l == layers)
          fail(tpos.str(), "more than the header's " + std::to_string(layers) + " MoE layers");
        const NestPos lpos{&name, t, l};
        od::value lv;
        check(layer.get(lv), lpos);
        od::array slots;
        check(lv.get_array().get(slots), lpos, "must be an array");
        ++stamp_;  // a fresh mark for the duplicate check of this slot list
        std::size_t s = 0;
        for (auto slot : slots) {
          if (s == k) fail(lpos.str(), "more than top_k = " + std::to_string(k) + " entries");
          const NestPos spos{&name, t, l, s};
          od::value sv;
          check(slot.get(sv), spos);
          leaf(sv, spos);
          ++s;
        }
        if (s != k)
          fail(lpos.str(),
               "expected top_k = " + std::to_string(k) + " entries, found " + std::to_string(s));
        ++l;
      }
      if (l != layers)
        fail(tpos.str(),
             "expected " + std::to_string(layers) + " MoE layers (header), found " + std::to_string(l));
      ++t;
    }
    return t;
  }

  std::uint32_t read_ids(od::value v, const std::string& name, std::vector<std::uint16_t>& ids) {
    const auto experts = static_cast<std::uint64_t>(model_.num_experts);
    return read_nest(v, name, [&](od::value sv, const NestPos& at) {
      std::uint64_t id = 0;
      check(sv.get_uint64().get(id), at, "expert ids must be non-negative integers");
      if (id >= experts)
        fail(at.str(), "expert id " + std::to_string(id) + " >= num_experts (" + std::to_string(experts) + ")");
      // A router picks k distinct experts; a repeat means a broken emitter.
      if (seen_stamp_[id] == stamp_) fail(at.str(), "expert id " + std::to_string(id) + " repeated in one token's layer");
      seen_stamp_[id] = stamp_;
      ids.push_back(static_cast<std::uint16_t>(id));
    });
  }

  std::uint32_t read_weights(od::value v, std::vector<float>& weights) {
    return read_nest(v, "weights", [&](od::value sv, const NestPos& at) {
      // Parse the token text straight to float: going through double could round twice and
      // break the lossless round trip with write_jsonl. get_double() validates the JSON number.
      std::string_view raw = sv.raw_json_token();
      double value = 0;
      check(sv.get_double().get(value), at, "weights must be numbers");
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n'))
        raw.remove_suffix(1);
      float w = 0;
      auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), w);
      if (ec == std::errc::result_out_of_range && std::abs(value) < 1) {
        w = static_cast<float>(value);  // underflow (libstdc++ flags it): round to 0 / subnormal
      } else if (ec != std::errc() || end != raw.data() + raw.size()) {
        fail(at.str(), "weight " + std::string(raw) + " is not representable as a float");
      }
      weights.push_back(w);
    });
  }

  // On-Demand stops after the object; anything still in bounds is trailing content.
  void finish_line(od::document& doc) const {
    if (!doc.current_location().error()) fail("", "unexpected text after the JSON object");
  }

  RequestRouting read_request(od::document& doc) {
    RequestRouting r;
    r.domain = domain_;
    r.source = path_;
    bool has_id = false;
    std::vector<std::uint16_t> decode;
    std::optional<std::uint32_t> weight_tokens;
    for_each_field(doc, [&](const std::string& key, od::value v) {
      if (key == "id") {
        r.id = get_string(v, key);
        if (r.id.empty()) fail(key, "must not be empty");
        has_id = true;
      } else if (key == "domain") {
        r.domain = get_string(v, key);
        if (r.domain.empty()) fail(key, "must not be empty");
      } else if (key == "source") {
        r.source = get_string(v, key);
      } else if (key == "prefill") {
        r.prefill_tokens = read_ids(v, key, r.ids);
      } else if (key == "decode") {
        r.decode_tokens = read_ids(v, key, decode);
      } else if (key == "weights") {
        weight_tokens = read_weights(v, r.weights);
      } else {
        fail(key, "unknown request key (expected id, domain, source, prefill, decode, weights)");
      }
    });
    if (!has_id) fail("id", "missing");
    r.ids.insert(r.ids.end(), decode.begin(), decode.end());
    const std::uint64_t tokens = std::uint64_t{r.prefill_tokens} + r.decode_tokens;
    if (tokens == 0) fail("prefill", "request \"" + r.id + "\" has no tokens");
    if (weight_tokens && *weight_tokens != tokens)
      fail("weights", "has " + std::to_string(*weight_tokens) + " tokens, prefill + decode have " +
                          std::to_string(tokens));
    return r;
  }

  std::string path_;
  std::string domain_;
  ModelInfo model_;
  od::parser parser_;
  std::string buf_;
  std::size_t line_ = 0;  // the line being read
  std::vector<std::uint32_t> seen_stamp_;  // per expert: the stamp of the list it was last seen in
  std::uint32_t stamp_ = 0;
};

// The file-level reader: line numbers, the header, then request lines in batches parsed in
// parallel and handed to the sink in file order (the duplicate-id check runs in that order
// too, so results and the error reported do not depend on the thread count).
class JsonlReader {
 public:
  JsonlReader(std::string path, std::string domain, JsonlStream::Sink sink)
      : path_(std::move(path)), domain_(std::move(domain)), sink_(std::move(sink)) {
    parsers_.emplace_back(path_, domain_);
  }

  // One line, without its '\n', in file order.
  void line(std::string_view line) {
    ++line_no_;
    if (line_no_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    if (have_header_) {
      if (batch_lines_.empty()) batch_first_line_ = line_no_;
      batch_lines_.emplace_back(batch_text_.size(), line.size());
      batch_text_.append(line);
      if (batch_text_.size() >= kBatchBytes || batch_lines_.size() >= kBatchLines) flush();
      return;
    }
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank
    const ModelInfo model = parsers_[0].header(line, line_no_);
    have_header_ = true;
    parsers_.clear();
    const int threads = std::max(1, omp_get_max_threads());
    for (int t = 0; t < threads; ++t) {
      parsers_.emplace_back(path_, domain_);
      parsers_.back().set_model(model);
    }
    sink_.header(model);
  }

  void finish() {
    flush();
    if (!have_header_) fail(0, "", "no header line (the file holds only blank lines)");
    // A header alone describes no traffic; say so here, where the file can still be named.
    if (requests_ == 0) fail(0, "", "no requests after the header line");
  }

 private:
  // A batch is a few dozen ordinary requests, or a few very long ones (a 1000-token request
  // of DeepSeek-V3 shape is a ~1.7 MB line): enough lines for every thread, bounded memory.
  static constexpr std::size_t kBatchBytes = std::size_t{16} << 20;
  static constexpr std::size_t kBatchLines = 256;

  [[noreturn]] void fail(std::size_t line, const std::string& field, const std::string& message) const {
    throw_bad_input(path_, line ? "line " + std::to_string(line) : std::string(), field, message);
  }

  void flush() {
    const std::size_t n = batch_lines_.size();
    if (n == 0) return;
    std::vector<std::optional<RequestRouting>> parsed(n);
    std::vector<std::exception_ptr> errors(n);
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
      const auto u = static_cast<std::size_t>(i);
      const auto [offset, size] = batch_lines_[u];
      try {
        parsed[u] = parsers_[static_cast<std::size_t>(omp_get_thread_num())].request(
            std::string_view(batch_text_).substr(offset, size), batch_first_line_ + u);
      } catch (...) {
        errors[u] = std::current_exception();
      }
    }
    batch_lines_.clear();
    batch_text_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      if (errors[i]) std::rethrow_exception(errors[i]);
      if (!parsed[i]) continue;
      RequestRouting& r = *parsed[i];
      const std::size_t line = batch_first_line_ + i;
      auto [it, inserted] = id_lines_.emplace(r.id, line);
      if (!inserted)
        fail(line, "id", "duplicate request id \"" + r.id + "\" (first on line " + std::to_string(it->second) + ")");
      ++requests_;
      sink_.request(std::move(r));
      parsed[i].reset();  // hand over, then free: the batch holds at most its own requests
    }
  }

  std::string path_;
  std::string domain_;
  JsonlStream::Sink sink_;
  std::vector<LineParser> parsers_;  // one per thread once the header is known
  bool have_header_ = false;
  std::size_t line_no_ = 0;
  std::size_t requests_ = 0;
  std::unordered_map<std::string, std::size_t> id_lines_;
  std::string batch_text_;  // request lines waiting to be parsed, back to back
  std::vector<std::pair<std::size_t, std::size_t>> batch_lines_;  // (offset, size) in batch_text_
  std::size_t batch_first_line_ = 0;
};

// ---- Writing.

void append_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // floats: shortest round-trip form
  out.append(buf, end);
}

// Appends tokens [first, last) of the nest starting at `base` as [[[..]..]..].
template <class Get>
void append_nest(std::string& out, std::size_t first, std::size_t last, std::size_t layers,
                 std::size_t k, Get&& get) {
  out += '[';
  for (std::size_t t = first; t < last; ++t) {
    if (t != first) out += ',';
    out += '[';
    for (std::size_t l = 0; l < layers; ++l) {
      if (l) out += ',';
      out += '[';
      for (std::size_t s = 0; s < k; ++s) {
        if (s) out += ',';
        append_number(out, get((t * layers + l) * k + s));
      }
      out += ']';
    }
    out += ']';
  }
  out += ']';
}

}  // namespace

struct JsonlStream::Impl {
  JsonlReader reader;
  std::string carry;  // a line cut by the end of a piece
};

JsonlStream::JsonlStream(std::string path, std::string domain, Sink sink)
    : impl_(std::make_unique<Impl>(Impl{JsonlReader(std::move(path), std::move(domain), std::move(sink)), {}})) {}
JsonlStream::~JsonlStream() = default;

void JsonlStream::feed(std::span<const char> bytes) {
  std::string_view text(bytes.data(), bytes.size());
  std::string& carry = impl_->carry;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      carry.append(text);
      return;
    }
    if (carry.empty()) {
      impl_->reader.line(text.substr(0, nl));  // the common case: no copy
    } else {
      carry.append(text.substr(0, nl));
      impl_->reader.line(carry);
      carry.clear();
    }
    text.remove_prefix(nl + 1);
  }
}

void JsonlStream::finish() {
  if (!impl_->carry.empty()) {  // a last line without '\n'
    impl_->reader.line(impl_->carry);
    impl_->carry.clear();
  }
  impl_->reader.finish();
}

ParsedFile parse_jsonl(std::span<const char> bytes, const std::string& path, const std::string& domain) {
  ParsedFile out;
  JsonlStream stream(path, domain,
                     {[&](const ModelInfo& m) { out.model = m; },
                      [&](RequestRouting r) { out.requests.push_back(std::move(r)); }});
  stream.feed(bytes);
  stream.finish();
  return out;
}

void write_jsonl(const TraceSet& set, std::ostream& os) {
  const ModelInfo& m = set.model;
  std::string line = "{\"moeplan_jsonl\":1,\"model\":";
  append_string(line, m.name);
  line += ",\"num_layers\":";
  append_number(line, m.num_layers);
  line += ",\"moe_layer_ids\":[";
  for (std::size_t i = 0; i < m.moe_layer_ids.size(); ++i) {
    if (i) line += ',';
    append_number(line, m.moe_layer_ids[i]);
  }
  line += "],\"num_experts\":";
  append_number(line, m.num_experts);
  line += ",\"top_k\":";
  append_number(line, m.top_k);
  line += "}\n";
  os << line;

  const std::size_t layers = static_cast<std::size_t>(m.moe_layers()), k = static_cast<std::size_t>(m.top_k);
  const std::size_t per = set.ids_per_token();
  for (const Request& q : set.requests) {
    const std::size_t base = q.token_offset * per;
    auto id_at = [&](std::size_t i) { return set.ids[base + i]; };
    line = "{\"id\":";
    append_string(line, q.id);
    line += ",\"domain\":";
    append_string(line, set.domains.at(q.domain));
    line += ",\"source\":";  // always, even empty: a missing key would read back as the path
    append_string(line, q.source);
    line += ",\"prefill\":";
    append_nest(line, 0, q.prefill_tokens, layers, k, id_at);
    line += ",\"decode\":";
    append_nest(line, q.prefill_tokens, q.tokens(), layers, k, id_at);
    if (set.has_weights()) {
      line += ",\"weights\":";
      append_nest(line, 0, q.tokens(), layers, k, [&](std::size_t i) { return set.weights[base + i]; });
    }
    line += "}\n";
    os << line;
  }
  os.flush();
  if (!os) throw_io("", "cannot write JSONL output");
}

}  // namespace moeplan::trace
