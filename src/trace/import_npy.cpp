// vLLM routed-experts dumps: .npy arrays [tokens, moe_layers, k] of integer expert ids, one per
// request, or several of them in a .npz archive; phases and model facts come from an optional
// JSON sidecar (docs/formats.md).
#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "trace/import_zip.hpp"

namespace moeplan::trace {
namespace {

// Where an array lives, for messages: the file, and for .npz the member inside it.
struct Where {
  std::string file;
  std::string member;  // empty for a plain .npy
  std::string record(const std::string& inner = {}) const {
    std::string m = member.empty() ? std::string() : "member \"" + member + "\"";
    if (m.empty()) return inner;
    return inner.empty() ? m : m + ", " + inner;
  }
  [[noreturn]] void fail(const std::string& field, const std::string& message,
                         const std::string& inner = {}) const {
    throw_bad_input(file, record(inner), field, message);
  }
};

// ---- The header: a Python dict literal such as
//   {'descr': '<i8', 'fortran_order': False, 'shape': (12, 48, 8), }
// Only the literal forms numpy writes are understood: str, bool, None, int, tuple and list.

struct PyValue {
  enum class Kind { str, boolean, none, integer, sequence } kind = Kind::none;
  std::string text;                   // str
  bool flag = false;                  // boolean
  bool negative = false;              // integer sign
  std::uint64_t magnitude = 0;        // integer |value|
  std::vector<PyValue> items;         // sequence
};

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const Where& where) : s_(text), where_(where) {}

  std::vector<std::pair<std::string, PyValue>> parse_dict() {
    std::vector<std::pair<std::string, PyValue>> out;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      PyValue key = parse_value(0);
      if (key.kind != PyValue::Kind::str) fail("dict keys must be strings");
      skip_space();
      expect(':');
      out.emplace_back(key.text, parse_value(0));
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++i_;
    skip_space();  // numpy pads with spaces and ends with '\n'
    if (i_ != s_.size()) fail("unexpected text after the dict");
    return out;
  }

 private:
  // Structured dtypes nest a little; anything deeper is not a numpy header.
  static constexpr int kMaxDepth = 8;

  [[noreturn]] void fail(const std::string& what) const {
    where_.fail("header", "malformed npy header (" + what + " at byte " + std::to_string(i_) + ")");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool take_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    skip_space();
    PyValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::str;
      ++i_;
      for (;;) {
        if (i_ >= s_.size()) fail("unterminated string");
        char ch = s_[i_++];
        if (ch == c) break;
        if (ch == '\\') {
          if (i_ >= s_.size()) fail("unterminated string");
          ch = s_[i_++];
        }
        v.text += ch;
      }
    } else if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      v.kind = PyValue::Kind::sequence;
      ++i_;
      for (;;) {
        skip_space();
        if (peek() == close) break;
        v.items.push_back(parse_value(depth + 1));
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        if (peek() != close) fail(std::string("expected ',' or '") + close + "'");
      }
      ++i_;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = PyValue::Kind::integer;
      if (c == '-') {
        v.negative = true;
        ++i_;
      }
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit");
      while (peek() >= '0' && peek() <= '9') {
        const unsigned d = static_cast<unsigned>(s_[i_++] - '0');
        if (v.magnitude > (UINT64_MAX - d) / 10) fail("integer too large");
        v.magnitude = v.magnitude * 10 + d;
      }
    } else if (take_word("True")) {
      v.kind = PyValue::Kind::boolean;
      v.flag = true;
    } else if (take_word("False")) {
      v.kind = PyValue::Kind::boolean;
    } else if (take_word("None")) {
      v.kind = PyValue::Kind::none;
    } else {
      fail("unexpected character");
    }
    return v;
  }

  std::string_view s_;
  std::size_t i_ = 0;
  const Where& where_;
};

// ---- The array.

struct DType {
  bool is_signed = false;
  bool big_endian = false;
  unsigned size = 1;  // bytes per element
};

constexpr const char* kAcceptedDtypes =
    "|u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 or their big-endian forms";

DType parse_dtype(const PyValue& descr, const Where& where) {
  if (descr.kind == PyValue::Kind::sequence)
    where.fail("dtype", "structured dtypes are not supported (expected " + std::string(kAcceptedDtypes) + ")");
  if (descr.kind != PyValue::Kind::str) where.fail("dtype", "'descr' is not a string");
  const std::string& d = descr.text;
  DType t;
  const bool ok = d.size() == 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|') &&
                  (d[1] == 'i' || d[1] == 'u') &&
                  (d[2] == '1' || d[2] == '2' || d[2] == '4' || d[2] == '8') &&
                  (d[0] != '|' || d[2] == '1');
  if (!ok)
    where.fail("dtype", "unsupported dtype '" + d + "': expert ids must be integers (" +
                            kAcceptedDtypes + ")");
  t.is_signed = d[1] == 'i';
  t.big_endian = d[0] == '>';
  t.size = static_cast<unsigned>(d[2] - '0');
  return t;
}

struct Array {
  std::uint32_t tokens = 0;
  int layers = 0, k = 0;
  std::vector<std::uint16_t> ids;  // C order [token][layer][slot]
};

// Decodes one .npy file. `max_id` is the largest id allowed (num_experts - 1 when known).
Array read_npy(std::span<const char> b, const Where& where, std::uint32_t max_id) {
  static constexpr char kMagic[] = "\x93NUMPY";
  if (b.size() < 10 || std::memcmp(b.data(), kMagic, 6) != 0)
    where.fail("magic", "not a .npy array (missing \\x93NUMPY magic)");
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(b[i]); };
  const unsigned major = byte(6), minor = byte(7);
  std::size_t header_len = 0, header_at = 0;
  if (major == 1 && minor == 0) {
    header_len = byte(8) | (std::size_t{byte(9)} << 8);
    header_at = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (b.size() < 12) where.fail("header", "truncated header length");
    header_len = byte(8) | (std::size_t{byte(9)} << 8) | (std::size_t{byte(10)} << 16) |
                 (std::size_t{byte(11)} << 24);
    header_at = 12;
  } else {
    where.fail("version", "unsupported npy format version " + std::to_string(major) + "." +
                              std::to_string(minor) + " (expected 1.0, 2.0 or 3.0)");
  }
  if (b.size() - header_at < header_len)
    where.fail("header", "truncated: header of " + std::to_string(header_len) +
                             " bytes extends past the end of the data");

  // Format 3.0 only differs in allowing UTF-8 in the header, which the parser passes through.
  HeaderParser parser(std::string_view(b.data() + header_at, header_len), where);
  std::optional<PyValue> descr, fortran, shape;
  for (auto& [key, value] : parser.parse_dict()) {
    if (key == "descr") descr = std::move(value);
    else if (key == "fortran_order") fortran = std::move(value);
    else if (key == "shape") shape = std::move(value);
    else where.fail("header", "unexpected key '" + key + "' in the npy header");
  }
  if (!descr) where.fail("dtype", "npy header lacks 'descr'");
  if (!fortran || fortran->kind != PyValue::Kind::boolean)
    where.fail("fortran_order", "npy header lacks a boolean 'fortran_order'");
  if (!shape || shape->kind != PyValue::Kind::sequence)
    where.fail("shape", "npy header lacks a 'shape' tuple");
  const DType dtype = parse_dtype(*descr, where);

  if (shape->items.size() != 3)
    where.fail("shape", "expected 3 dimensions [tokens, moe_layers, k], found " +
                            std::to_string(shape->items.size()));
  std::uint64_t dims[3];
  static constexpr const char* kDimNames[3] = {"tokens", "moe_layers", "k"};
  static constexpr std::uint64_t kDimMax[3] = {UINT32_MAX, 65535, 65535};
  for (int i = 0; i < 3; ++i) {
    const PyValue& d = shape->items[static_cast<std::size_t>(i)];
    if (d.kind != PyValue::Kind::integer || d.negative)
      where.fail("shape", "dimensions must be non-negative integers");
    if (d.magnitude == 0) where.fail("shape", std::string("no ") + kDimNames[i] + " (dimension is 0)");
    if (d.magnitude > kDimMax[i])
      where.fail("shape", std::string(kDimNames[i]) + " dimension " + std::to_string(d.magnitude) +
                              " is too large");
    dims[i] = d.magnitude;
  }
  // tokens < 2^32 and layers, k < 2^16, so the product fits in 64 bits; bound it by the data
  // actually present before allocating anything.
  const std::uint64_t count = dims[0] * dims[1] * dims[2];
  const std::size_t data_at = header_at + header_len;
  const std::uint64_t available = b.size() - data_at;
  if (count > available / dtype.size)
    where.fail("data", "truncated: shape (" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                           ", " + std::to_string(dims[2]) + ") needs " +
                           std::to_string(count * dtype.size) + " bytes of data, found " +
                           std::to_string(available));
  if (count * dtype.size != available)
    where.fail("data", std::to_string(available - count * dtype.size) +
                           " unexpected bytes after the array data");

  Array a;
  a.tokens = static_cast<std::uint32_t>(dims[0]);
  a.layers = static_cast<int>(dims[1]);
  a.k = static_cast<int>(dims[2]);
  a.ids.resize(static_cast<std::size_t>(count));
  const auto* data = reinterpret_cast<const unsigned char*>(b.data() + data_at);
  const std::size_t T = dims[0], L = dims[1], K = dims[2];
  const bool fortran_order = fortran->flag;
  std::size_t out = 0;
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t s = 0; s < K; ++s, ++out) {
        // Fortran order stores the first index fastest: element (t, l, s) is at t + T*(l + L*s).
        const std::size_t src = fortran_order ? t + T * (l + L * s) : out;
        const unsigned char* p = data + src * dtype.size;
        std::uint64_t raw = 0;
        for (unsigned i = 0; i < dtype.size; ++i) {
          const unsigned shift = 8 * (dtype.big_endian ? dtype.size - 1 - i : i);
          raw |= std::uint64_t{p[i]} << shift;
        }
        const bool negative = dtype.is_signed && (raw >> (8 * dtype.size - 1)) & 1;
        if (negative || raw > max_id) {
          std::string value;
          if (negative) {
            // Sign-extend for the message.
            const std::uint64_t ext = dtype.size == 8 ? raw : raw | (~std::uint64_t{0} << (8 * dtype.size));
            value = std::to_string(static_cast<std::int64_t>(ext));
          } else {
            value = std::to_string(raw);
          }
          where.fail("layer " + std::to_string(l) + ", slot " + std::to_string(s),
                     "expert id " + value +
                         (negative ? " is negative" : " exceeds the largest allowed id " + std::to_string(max_id)),
                     "token " + std::to_string(t));
        }
        a.ids[out] = static_cast<std::uint16_t>(raw);
      }
  return a;
}

// ---- The sidecar (<file>.phases.json).

struct Sidecar {
  std::string model;
  int num_layers = 0;
  std::optional<std::vector<int>> moe_layer_ids;
  int num_experts = 0;
  std::optional<std::uint64_t> prefill_tokens;           // .npy
  std::map<std::string, std::uint64_t> request_prefill;  // .npz: request id -> prefill tokens
};

std::uint64_t sidecar_uint(const nlohmann::json& v, const std::string& file, const std::string& record,
                           const std::string& field, std::uint64_t max) {
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() > max)
    throw_bad_input(file, record, field, "must be an integer in 0.." + std::to_string(max));
  return v.get<std::uint64_t>();
}

Sidecar parse_sidecar(const std::string& text, const std::string& data_path, bool npz) {
  Sidecar sc;
  if (text.empty()) return sc;
  const std::string file = data_path + ".phases.json";
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw_bad_input(file, "", "", "invalid JSON");
  if (!j.is_object()) throw_bad_input(file, "", "", "expected a JSON object");
  for (auto& [key, v] : j.items()) {
    if (key == "model") {
      if (!v.is_string()) throw_bad_input(file, "", key, "must be a string");
      sc.model = v.get<std::string>();
    } else if (key == "num_layers") {
      sc.num_layers = static_cast<int>(sidecar_uint(v, file, "", key, 65535));
    } else if (key == "num_experts") {
      sc.num_experts = static_cast<int>(sidecar_uint(v, file, "", key, 65535));
      if (sc.num_experts == 0) throw_bad_input(file, "", key, "must be at least 1");
    } else if (key == "moe_layer_ids") {
      if (!v.is_array()) throw_bad_input(file, "", key, "must be an array of layer indices");
      std::vector<int> ids;
      for (const auto& e : v) {
        ids.push_back(static_cast<int>(sidecar_uint(e, file, "", key, 65535)));
        if (ids.size() > 1 && ids.back() <= ids[ids.size() - 2])
          throw_bad_input(file, "", key, "must be strictly ascending");
      }
      sc.moe_layer_ids = std::move(ids);
    } else if (key == "prefill_tokens" && !npz) {
      sc.prefill_tokens = sidecar_uint(v, file, "", key, UINT32_MAX);
    } else if (key == "requests" && npz) {
      if (!v.is_object()) throw_bad_input(file, "", key, "must be an object keyed by member name");
      for (auto& [name, r] : v.items()) {
        const std::string rec = "requests \"" + name + "\"";
        if (!r.is_object()) throw_bad_input(file, rec, "", "must be an object");
        for (auto& [rkey, rv] : r.items()) {
          if (rkey != "prefill_tokens")
            throw_bad_input(file, rec, rkey, "unknown key (expected prefill_tokens)");
          // Keys may name the member ("r0.npy") or the request ("r0").
          std::string id = name.size() > 4 && name.ends_with(".npy") ? name.substr(0, name.size() - 4) : name;
          if (!sc.request_prefill.emplace(id, sidecar_uint(rv, file, rec, rkey, UINT32_MAX)).second)
            throw_bad_input(file, rec, "", "request listed twice");
        }
      }
    } else {
      throw_bad_input(file, "", key,
                      std::string("unknown key (expected model, num_layers, num_experts, "
                                  "moe_layer_ids, ") +
                          (npz ? "requests)" : "prefill_tokens)"));
    }
  }
  if (sc.num_layers > 0 && sc.moe_layer_ids && !sc.moe_layer_ids->empty() &&
      sc.moe_layer_ids->back() >= sc.num_layers)
    throw_bad_input(file, "", "moe_layer_ids", "layer index not below num_layers");
  return sc;
}

// The model facts of a file whose arrays have `layers` MoE layers and top-k `k`.
ModelInfo model_from(const Sidecar& sc, int layers, int k, const std::string& data_path) {
  ModelInfo m;
  m.name = sc.model;
  m.num_layers = sc.num_layers;
  m.num_experts = sc.num_experts;
  m.top_k = k;
  if (sc.moe_layer_ids) {
    if (static_cast<int>(sc.moe_layer_ids->size()) != layers)
      throw_bad_input(data_path + ".phases.json", "", "moe_layer_ids",
                      "lists " + std::to_string(sc.moe_layer_ids->size()) +
                          " layers but the arrays have " + std::to_string(layers));
    m.moe_layer_ids = *sc.moe_layer_ids;
  } else {
    for (int l = 0; l < layers; ++l) m.moe_layer_ids.push_back(l);
  }
  return m;
}

std::uint32_t max_id_for(const Sidecar& sc) {
  return sc.num_experts > 0 ? static_cast<std::uint32_t>(sc.num_experts - 1) : 65535u;
}

RequestRouting to_request(Array&& a, std::string id, const std::string& domain,
                          const std::string& path, std::optional<std::uint64_t> prefill,
                          const std::string& sidecar_record) {
  RequestRouting r;
  r.id = std::move(id);
  r.domain = domain;
  r.source = path;
  // Without a sidecar nothing says where the prompt ends: every token counts as prefill.
  const std::uint64_t p = prefill.value_or(a.tokens);
  if (p > a.tokens)
    throw_bad_input(path + ".phases.json", sidecar_record, "prefill_tokens",
                    std::to_string(p) + " exceeds the " + std::to_string(a.tokens) +
                        " tokens of the array");
  r.prefill_tokens = static_cast<std::uint32_t>(p);
  r.decode_tokens = a.tokens - r.prefill_tokens;
  r.ids = std::move(a.ids);
  return r;
}

std::string file_stem(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);  // npos + 1 == 0
  for (const char* ext : {".zst", ".npy"})
    if (name.size() > std::strlen(ext) && name.ends_with(ext)) name.resize(name.size() - std::strlen(ext));
  return name;
}

}  // namespace

ParsedFile parse_npy(std::span<const char> bytes, const std::string& path, const std::string& domain,
                     const std::string& sidecar_json) {
  const Sidecar sc = parse_sidecar(sidecar_json, path, /*npz=*/false);
  Array a = read_npy(bytes, Where{path, ""}, max_id_for(sc));
  ParsedFile pf;
  pf.model = model_from(sc, a.layers, a.k, path);
  pf.requests.push_back(to_request(std::move(a), file_stem(path), domain, path, sc.prefill_tokens, ""));
  return pf;
}

ParsedFile parse_npz(std::span<const char> bytes, const std::string& path, const std::string& domain,
                     const std::string& sidecar_json) {
  const Sidecar sc = parse_sidecar(sidecar_json, path, /*npz=*/true);
  const std::vector<zip::Member> members = zip::list_members(bytes, path);
  if (members.empty()) throw_bad_input(path, "", "", "archive holds no arrays");
  ParsedFile pf;
  std::set<std::string> seen;
  for (const auto& m : members) {
    const Where where{path, m.name};
    if (m.name.size() <= 4 || !m.name.ends_with(".npy"))
      where.fail("name", "not a .npy member (np.savez names every array <key>.npy)");
    std::string id = m.name.substr(0, m.name.size() - 4);
    if (!seen.insert(id).second) where.fail("name", "duplicate member name");
    Array a = read_npy(zip::extract(bytes, m, path), where, max_id_for(sc));
    if (pf.requests.empty()) {
      pf.model = model_from(sc, a.layers, a.k, path);
    } else if (a.layers != pf.model.moe_layers() || a.k != pf.model.top_k) {
      where.fail("shape", "[tokens, " + std::to_string(a.layers) + ", " + std::to_string(a.k) +
                              "] differs from the first member's [tokens, " +
                              std::to_string(pf.model.moe_layers()) + ", " +
                              std::to_string(pf.model.top_k) + "]");
    }
    std::optional<std::uint64_t> prefill;
    if (auto it = sc.request_prefill.find(id); it != sc.request_prefill.end()) prefill = it->second;
    pf.requests.push_back(
        to_request(std::move(a), id, domain, path, prefill, "requests \"" + id + "\""));
  }
  for (const auto& [id, n] : sc.request_prefill)
    if (!seen.count(id))
      throw_bad_input(path + ".phases.json", "requests \"" + id + "\"", "",
                      "the archive has no member " + id + ".npy");
  return pf;
}

}  // namespace moeplan::trace
