#include "trace/import_paper_c_fast.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace moeplan::trace::detail {
namespace {

constexpr std::uint32_t kMaxValue = 65535;  // layer keys and expert ids
constexpr std::size_t kMaxK = 16;           // larger k: leave it to the full importer

class Scanner {
 public:
  Scanner(const char* text, std::size_t size, PaperCScan& out)
      : p_(text), end_(text + size), out_(out) {}

  bool run() {
    skip_ws();
    if (!eat('[')) return false;
    skip_ws();
    std::size_t s = 0;
    for (;;) {
      if (!(s == 0 ? first_step() : decode_step(s))) return false;
      ++s;
      const Next next = after_element(']');
      if (next == Next::bad) return false;
      if (next == Next::more) continue;
      break;
    }
    skip_ws();
    if (p_ != end_) return false;
    out_.decode = s - 1;
    return out_.ids.size() == (out_.prefill + out_.decode) * moe_ * out_.k;
  }

 private:
  void skip_ws() {
    while (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t') ++p_;
  }
  bool eat(char c) {
    if (*p_ != c) return false;
    ++p_;
    return true;
  }

  // After a list or object element: another one follows (',' and blanks eaten), the
  // container ends (`close` eaten), or neither.
  enum class Next { more, end, bad };
  Next after_element(char close) {
    skip_ws();
    if (eat(',')) {
      skip_ws();
      return Next::more;
    }
    return eat(close) ? Next::end : Next::bad;
  }

  // A canonical unsigned integer <= 65535 (JSON forbids leading zeros).
  bool number(std::uint32_t& v) {
    const char* digits = p_;
    v = 0;
    while (*p_ >= '0' && *p_ <= '9' && v <= kMaxValue) v = v * 10 + static_cast<std::uint32_t>(*p_++ - '0');
    const auto n = p_ - digits;
    return n > 0 && v <= kMaxValue && !(n > 1 && *digits == '0') && !(*p_ >= '0' && *p_ <= '9');
  }

  // "<key>" ws ':' ws
  bool key(std::uint32_t& k) {
    if (!eat('"') || !number(k) || !eat('"')) return false;
    skip_ws();
    if (!eat(':')) return false;
    skip_ws();
    return true;
  }

  bool null_literal() {
    if (p_[0] != 'n' || p_[1] != 'u' || p_[2] != 'l' || p_[3] != 'l') return false;
    p_ += 4;
    return true;
  }

  // One token's ids into dst; the first token of the file fixes k.
  bool token(std::uint16_t* dst) {
    if (!eat('[')) return false;
    skip_ws();
    std::size_t j = 0;
    for (;;) {
      std::uint32_t v;
      if (!number(v) || j == kMaxK || (out_.k != 0 && j == out_.k)) return false;
      const auto e = static_cast<std::uint16_t>(v);
      if (std::find(dst, dst + j, e) != dst + j) return false;
      dst[j++] = e;
      const Next next = after_element(']');
      if (next == Next::bad) return false;
      if (next == Next::more) continue;
      break;
    }
    if (out_.k == 0) out_.k = j;
    return j == out_.k;
  }

  // Step 0: keys ascending; MoE layers' token lists, all of the same length, kept layer-major
  // until the number of MoE layers is known, then transposed to [token][layer][k].
  bool first_step() {
    if (!eat('{')) return false;
    skip_ws();
    std::vector<std::vector<std::uint16_t>> per_layer;
    std::uint16_t scratch[kMaxK];
    for (;;) {
      std::uint32_t k;
      if (!key(k)) return false;
      if (!out_.layer_keys.empty() && k <= out_.layer_keys.back()) return false;
      out_.layer_keys.push_back(k);
      if (null_literal()) {
        out_.layer_is_moe.push_back(false);
      } else {
        out_.layer_is_moe.push_back(true);
        auto& ids = per_layer.emplace_back();
        if (!eat('[')) return false;
        skip_ws();
        std::size_t t = 0;
        for (;;) {
          if (!token(scratch)) return false;
          ids.insert(ids.end(), scratch, scratch + out_.k);
          ++t;
          const Next next = after_element(']');
          if (next == Next::bad) return false;
          if (next == Next::more) continue;
          break;
        }
        if (per_layer.size() == 1) out_.prefill = t;
        if (t != out_.prefill) return false;
      }
      const Next next = after_element('}');
      if (next == Next::bad) return false;
      if (next == Next::more) continue;
      break;
    }
    moe_ = per_layer.size();
    if (moe_ == 0 || out_.prefill == 0) return false;
    for (auto key : out_.layer_keys) key_text_.push_back("\"" + std::to_string(key) + "\":");
    const std::size_t k = out_.k;
    out_.ids.resize(out_.prefill * moe_ * k);
    for (std::size_t l = 0; l < moe_; ++l)
      for (std::size_t t = 0; t < out_.prefill; ++t)
        std::copy_n(per_layer[l].data() + t * k, k, out_.ids.data() + (t * moe_ + l) * k);
    return true;
  }

  // A decode step: the same keys in the same order, one token per MoE layer.
  bool decode_step(std::size_t s) {
    (void)s;
    if (!eat('{')) return false;
    skip_ws();
    const std::size_t base = out_.ids.size();
    out_.ids.resize(base + moe_ * out_.k);
    std::size_t moe = 0;
    for (std::size_t i = 0;; ++i) {
      if (i == out_.layer_keys.size()) return false;
      // Minified files write each key exactly as "<key>":, so try that before parsing.
      const std::string& text = key_text_[i];
      if (std::memcmp(p_, text.data(), text.size()) == 0) {
        p_ += text.size();
      } else {
        std::uint32_t k;
        if (!key(k) || k != out_.layer_keys[i]) return false;
      }
      if (!out_.layer_is_moe[i]) {
        if (!null_literal()) return false;
      } else {
        if (!eat('[')) return false;
        skip_ws();
        if (!token(out_.ids.data() + base + moe * out_.k)) return false;
        skip_ws();
        if (!eat(']')) return false;
        ++moe;
      }
      const Next next = after_element('}');
      if (next == Next::bad) return false;
      if (next == Next::more) continue;
      return i + 1 == out_.layer_keys.size();
    }
  }

  const char* p_;
  const char* end_;
  PaperCScan& out_;
  std::size_t moe_ = 0;
  std::vector<std::string> key_text_;  // "<key>": per layer, for the decode steps
};

}  // namespace

bool scan_paper_c(const char* text, std::size_t size, PaperCScan& out) {
  out = PaperCScan{};
  return Scanner(text, size, out).run();
}

}  // namespace moeplan::trace::detail
