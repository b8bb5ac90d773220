// Importer for MoE-Beyond CSV traces (DeepSeek-V2-Lite on Puffin prompts): one file = one
// prefill-only request. Header `Layer ID,Batch Number,Token,Activated Expert IDs`, rows
// layer-major (all tokens of the first MoE layer, then all of the next, ...), each row one
// token at one layer with its ids as a quoted list "[8, 26, 56, 57, 60, 43]".
// See docs/formats.md for the mapping and everything that is validated.
//
// The bytes are read by a small RFC 4180 state machine (quoted fields, "" escapes, newlines
// inside quotes, CRLF or LF) that hands out fields as views into the input; only a field with
// "" escapes is copied, into a buffer reused from row to row.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"
#include "trace/import_text.hpp"

namespace moeplan::trace {
namespace {

constexpr std::size_t kColumns = 4;
constexpr std::array<std::string_view, kColumns> kHeader = {"Layer ID", "Batch Number", "Token",
                                                           "Activated Expert IDs"};
constexpr std::uint32_t kMaxLayerId = 65535;
constexpr std::uint32_t kMaxExpertId = 65535;  // ids are stored as uint16

// Splits the bytes into records. next() reads one record; its fields stay valid until the
// following next().
class CsvScanner {
 public:
  CsvScanner(std::span<const char> bytes, const std::string& path)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), path_(path) {
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // UTF-8 BOM
  }

  // False at the end of the input. Blank lines at the very end are ignored.
  bool next() {
    if (only_line_breaks_left()) return false;
    record_line_ = line_;
    count_ = 0;
    for (;;) {
      std::string_view field = at_quote() ? quoted_field() : plain_field();
      if (count_ < kColumns) fields_[count_] = field;
      ++count_;
      if (p_ == end_) return true;
      const char c = *p_++;
      if (c == ',') continue;
      if (c == '\n') {
        ++line_;
        return true;
      }
      if (c == '\r' && p_ < end_ && *p_ == '\n') {
        ++p_;
        ++line_;
        return true;
      }
      if (c == '\r') fail(line_, "", "carriage return not followed by a line feed");
      fail(line_, "", std::string("unexpected character ") + detail::quote_for_message(std::string_view(&c, 1)) +
                          " after a closing quote (expected , or end of line)");
    }
  }

  std::size_t line() const { return record_line_; }   // first line of the current record
  std::size_t field_count() const { return count_; }  // may exceed kColumns
  std::string_view field(std::size_t i) const { return fields_[i]; }

  [[noreturn]] void fail(std::size_t line, const std::string& field, const std::string& msg) const {
    throw_bad_input(path_, "line " + std::to_string(line), field, msg);
  }

 private:
  bool at_quote() const { return p_ < end_ && *p_ == '"'; }

  bool only_line_breaks_left() const {
    return std::all_of(p_, end_, [](char c) { return c == '\n' || c == '\r'; });
  }

  // Up to the next , or line break. A quote inside an unquoted field is an error (RFC 4180).
  std::string_view plain_field() {
    const char* start = p_;
    while (p_ < end_ && *p_ != ',' && *p_ != '\n' && *p_ != '\r') {
      if (*p_ == '"') fail(line_, "", "double quote inside an unquoted field");
      ++p_;
    }
    return {start, static_cast<std::size_t>(p_ - start)};
  }

  // From the opening quote to the closing one; "" stands for one quote, line breaks are data.
  std::string_view quoted_field() {
    const char* start = ++p_;
    const char* close = nullptr;
    bool escaped = false;
    for (;;) {
      const auto* q = static_cast<const char*>(std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_)));
      if (q == nullptr) fail(record_line_, "", "unterminated quoted field (the file ends inside quotes)");
      line_ += static_cast<std::size_t>(std::count(p_, q, '\n'));
      if (q + 1 < end_ && q[1] == '"') {
        escaped = true;
        p_ = q + 2;
        continue;
      }
      close = q;
      p_ = q + 1;
      break;
    }
    std::string_view raw(start, static_cast<std::size_t>(close - start));
    if (!escaped) return raw;
    std::string& buf = unescaped_[std::min(count_, kColumns - 1)];
    buf.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      buf += raw[i];
      if (raw[i] == '"') ++i;  // the second quote of a "" pair
    }
    return buf;
  }

  const char* p_;
  const char* end_;
  const std::string& path_;
  std::size_t line_ = 1;
  std::size_t record_line_ = 1;
  std::size_t count_ = 0;
  std::array<std::string_view, kColumns> fields_{};
  std::array<std::string, kColumns> unescaped_;
};

class MoeBeyondReader {
 public:
  MoeBeyondReader(std::span<const char> bytes, const std::string& path)
      : csv_(bytes, path), path_(path) {
    raw_.reserve(bytes.size() / 8);  // a row is ~30+ bytes and holds k (6) ids
  }

  ParsedFile read(const std::string& domain) {
    read_header();
    while (csv_.next()) read_row();
    if (rows_ == 0) throw_bad_input(path_, "", "", "no data rows after the header");
    end_block(csv_.line());

    ParsedFile pf;
    pf.model.num_layers = layer_ids_.back() + 1;  // layers before the first MoE one are dense
    pf.model.moe_layer_ids = layer_ids_;
    pf.model.top_k = static_cast<int>(k_);
    pf.model.num_experts = 0;  // not in the file: the driver infers max id + 1
    RequestRouting r;
    r.id = detail::request_id_from_path(path_, ".csv");
    r.domain = domain;
    r.source = path_;
    r.prefill_tokens = static_cast<std::uint32_t>(tokens_);
    r.decode_tokens = 0;
    r.ids = transpose();
    pf.requests.push_back(std::move(r));
    return pf;
  }

 private:
  void read_header() {
    if (!csv_.next()) throw_bad_input(path_, "", "", "empty file");
    bool ok = csv_.field_count() == kColumns;
    for (std::size_t i = 0; ok && i < kColumns; ++i) ok = csv_.field(i) == kHeader[i];
    if (!ok)
      csv_.fail(csv_.line(), "header",
                "expected exactly \"Layer ID,Batch Number,Token,Activated Expert IDs\"");
  }

  void read_row() {
    const std::size_t line = csv_.line();
    if (csv_.field_count() != kColumns) {
      if (csv_.field_count() == 1 && csv_.field(0).empty()) csv_.fail(line, "", "empty line");
      csv_.fail(line, "", "expected 4 fields, found " + std::to_string(csv_.field_count()));
    }
    auto layer = detail::parse_canonical_uint(csv_.field(0), kMaxLayerId);
    if (!layer)
      csv_.fail(line, "Layer ID", "not an integer in 0..65535: " + detail::quote_for_message(csv_.field(0)));
    auto batch = detail::parse_canonical_uint(csv_.field(1), 0xFFFFFFFFu);
    if (!batch)
      csv_.fail(line, "Batch Number", "not a non-negative integer: " + detail::quote_for_message(csv_.field(1)));
    if (rows_ == 0) {
      batch_ = *batch;
      first_row_line_ = line;
    } else if (*batch != batch_) {
      csv_.fail(line, "Batch Number", "batch " + std::to_string(*batch) + " differs from batch " + std::to_string(batch_) + " of line " + std::to_string(first_row_line_) + " (a file must hold a single batch)");
    }

    const int id = static_cast<int>(*layer);
    if (rows_ == 0 || id != layer_ids_.back()) start_block(line, id);
    check_token(line);
    read_ids(line);
    ++block_rows_;
    ++rows_;
  }

  // Layers come as contiguous blocks in ascending order, each as long as the first.
  void start_block(std::size_t line, int id) {
    if (!layer_ids_.empty()) {
      if (id < layer_ids_.back())
        csv_.fail(line, "Layer ID", "layer " + std::to_string(id) + " after layer " + std::to_string(layer_ids_.back()) + " (layers must come as contiguous blocks in ascending order)");
      end_block(line);
    }
    layer_ids_.push_back(id);
    block_rows_ = 0;
  }

  void end_block(std::size_t line) {
    if (layer_ids_.size() == 1) {
      tokens_ = block_rows_;
      return;
    }
    if (block_rows_ < tokens_)
      csv_.fail(line, "Token", "layer " + std::to_string(layer_ids_.back()) + " ends after " + std::to_string(block_rows_) + " tokens but layer " + std::to_string(layer_ids_.front()) + " has " + std::to_string(tokens_) + " (every layer must list the same tokens)");
  }

  // The first block records the token texts; every later block must repeat them exactly.
  void check_token(std::size_t line) {
    const std::string_view text = csv_.field(2);
    if (layer_ids_.size() == 1) {
      token_text_.append(text);
      token_end_.push_back(token_text_.size());
      return;
    }
    const std::size_t t = block_rows_;
    if (t >= tokens_)
      csv_.fail(line, "Token", "layer " + std::to_string(layer_ids_.back()) + " has more tokens than layer " + std::to_string(layer_ids_.front()) + ", which has " + std::to_string(tokens_) + " (every layer must list the same tokens)");
    const std::size_t begin = t == 0 ? 0 : token_end_[t - 1];
    const std::string_view expected(token_text_.data() + begin, token_end_[t] - begin);
    if (text != expected)
      csv_.fail(line, "Token", "token " + std::to_string(t) + " of layer " + std::to_string(layer_ids_.back()) + " is " + detail::quote_for_message(text) + " but " + detail::quote_for_message(expected) + " in layer " + std::to_string(layer_ids_.front()) + " (every layer must list the same tokens)");
  }

  // "[8, 26, 56]": k distinct ids, appended to raw_ (layer-major) in the file's order.
  void read_ids(std::size_t line) {
    const std::string_view s = csv_.field(3);
    const std::size_t first = raw_.size();
    auto bad = [&](const std::string& why) {
      token_set_.erase(raw_.begin() + static_cast<std::ptrdiff_t>(first), raw_.end());
      csv_.fail(line, "Activated Expert IDs", why + ": " + detail::quote_for_message(s));
    };
    std::size_t i = 0;
    auto skip_space = [&] {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    skip_space();
    if (i == s.size() || s[i] != '[') bad("expected a list of expert ids like [8, 26, 56]");
    ++i;
    skip_space();
    if (i < s.size() && s[i] == ']') bad("empty list of expert ids");
    for (;;) {
      skip_space();
      const std::size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      auto id = detail::parse_canonical_uint(s.substr(start, i - start), kMaxExpertId);
      if (!id) bad("expert ids must be integers in 0..65535");
      if (!token_set_.insert(static_cast<std::uint16_t>(*id)))
        bad("expert id " + std::to_string(*id) + " is listed twice");
      raw_.push_back(static_cast<std::uint16_t>(*id));
      skip_space();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == ']') break;
      bad("expected , or ] in the list of expert ids");
    }
    ++i;
    skip_space();
    if (i != s.size()) bad("unexpected text after the list of expert ids");
    token_set_.erase(raw_.begin() + static_cast<std::ptrdiff_t>(first), raw_.end());
    const std::size_t n = raw_.size() - first;
    if (k_ == 0) k_ = n;
    else if (n != k_)
      csv_.fail(line, "Activated Expert IDs", "lists " + std::to_string(n) + " experts, expected " + std::to_string(k_) + " (top-k must be the same for every row)");
  }

  // raw_ is [layer][token][k] as the rows come; the trace model wants [token][layer][k].
  std::vector<std::uint16_t> transpose() const {
    const std::size_t layers = layer_ids_.size();
    std::vector<std::uint16_t> ids(raw_.size());
    for (std::size_t l = 0; l < layers; ++l)
      for (std::size_t t = 0; t < tokens_; ++t)
        std::copy_n(raw_.data() + (l * tokens_ + t) * k_, k_, ids.data() + (t * layers + l) * k_);
    return ids;
  }

  CsvScanner csv_;
  const std::string& path_;
  std::size_t rows_ = 0;
  std::uint32_t batch_ = 0;        // the batch number of every row
  std::size_t first_row_line_ = 0;
  std::vector<int> layer_ids_;     // blocks seen so far, ascending
  std::size_t block_rows_ = 0;     // rows of the current block
  std::size_t tokens_ = 0;         // rows of the first block, once it is complete
  std::string token_text_;         // the first block's token texts, back to back
  std::vector<std::size_t> token_end_;
  std::size_t k_ = 0;
  std::vector<std::uint16_t> raw_;
  detail::TokenIdSet token_set_;
};

}  // namespace

ParsedFile parse_moe_beyond_csv(std::span<const char> bytes, const std::string& path,
                                const std::string& domain) {
  return MoeBeyondReader(bytes, path).read(domain);
}

}  // namespace moeplan::trace
