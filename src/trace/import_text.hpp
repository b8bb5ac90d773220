// Small text helpers shared by the text-format importers (Paper C JSON, MoE-Beyond CSV).
// Private to src/trace/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace moeplan::trace::detail {

// A canonical non-negative decimal integer ("0", "17"; not "", "+1", "-1", "01", "1.0",
// " 1") no larger than `max`. Leading zeros are refused so that two spellings can never name
// the same layer.
inline std::optional<std::uint32_t> parse_canonical_uint(std::string_view s, std::uint32_t max) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// The request id a file gets: its name without directories and without the trailing
// ".zst" and `ext` suffixes ("traces/prompt_7_data.csv.zst" -> "prompt_7_data").
inline std::string request_id_from_path(const std::string& path, std::string_view ext) {
  std::string_view name(path);
  if (auto slash = name.find_last_of('/'); slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  auto strip = [&name](std::string_view suffix) {
    if (name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix)
      name.remove_suffix(suffix.size());
  };
  strip(".zst");
  strip(ext);
  return std::string(name);
}

// A field's text for an error message: quoted, control bytes escaped, long text cut short.
inline std::string quote_for_message(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : s) {
    if (++n > 40) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The ids of one token, to catch an id listed twice. A 65536-bit set (8 KiB) that is emptied
// id by id after each token, so the cost per token is O(k) whatever k is.
class TokenIdSet {
 public:
  // False when `id` is already in the set.
  bool insert(std::uint16_t id) {
    std::uint64_t& word = bits_[id >> 6];
    const std::uint64_t bit = std::uint64_t{1} << (id & 63);
    if (word & bit) return false;
    word |= bit;
    return true;
  }
  template <class It>
  void erase(It first, It last) {
    for (; first != last; ++first) bits_[*first >> 6] &= ~(std::uint64_t{1} << (*first & 63));
  }
  void clear() { bits_.fill(0); }

 private:
  std::array<std::uint64_t, 1024> bits_{};
};

}  // namespace moeplan::trace::detail
