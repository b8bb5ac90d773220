#include "perf/csv.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "moeplan/io/error.hpp"

namespace moeplan::perf::csv {

namespace {

std::string line_ref(std::size_t line) { return "line " + std::to_string(line); }

// Splits records; a state machine over the bytes so that quoted commas and line breaks stay data.
class Reader {
 public:
  Reader(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  // False at the end of input (trailing blank lines ignored).
  bool next(Table::Row& row) {
    while (pos_ < s_.size() && (s_[pos_] == '\n' || s_[pos_] == '\r')) {
      if (s_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ >= s_.size()) return false;
    row.line = line_;
    row.cells.clear();
    for (;;) {
      row.cells.emplace_back();
      std::string& cell = row.cells.back();
      if (pos_ < s_.size() && s_[pos_] == '"') {
        ++pos_;
        for (;;) {
          if (pos_ >= s_.size()) throw_bad_input(file_, line_ref(row.line), "", "unterminated quoted field");
          char c = s_[pos_++];
          if (c == '"') {
            if (pos_ < s_.size() && s_[pos_] == '"') {
              cell += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n') ++line_;
          cell += c;
        }
        if (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' && s_[pos_] != '\r')
          throw_bad_input(file_, line_ref(line_), "", "unexpected character after a closing quote");
      } else {
        while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' && s_[pos_] != '\r') {
          if (s_[pos_] == '"') throw_bad_input(file_, line_ref(line_), "", "double quote inside an unquoted field");
          if (s_[pos_] == '\0') throw_bad_input(file_, line_ref(line_), "", "NUL byte in the file");
          cell += s_[pos_++];
        }
      }
      if (pos_ >= s_.size()) return true;
      char c = s_[pos_++];
      if (c == ',') continue;
      if (c == '\r') {
        if (pos_ >= s_.size() || s_[pos_] != '\n') throw_bad_input(file_, line_ref(line_), "", "carriage return not followed by a line feed");
        ++pos_;
      }
      ++line_;
      return true;
    }
  }

 private:
  std::string_view s_;
  const std::string& file_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

std::optional<std::size_t> Table::find_column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return std::nullopt;
}

std::size_t Table::column(std::string_view name) const {
  if (auto i = find_column(name)) return *i;
  throw_bad_input(file, "line 1", fmt::format("column \"{}\"", name), "missing from the header");
}

Table parse(std::string_view text, const std::string& file, std::span<const char* const> required) {
  Table t;
  t.file = file;
  Reader rd(text, file);
  Table::Row head;
  if (!rd.next(head)) throw_bad_input(file, "", "", "empty file (expected a CSV header)");
  t.header = std::move(head.cells);
  for (const char* name : required) t.column(name);
  Table::Row row;
  while (rd.next(row)) {
    if (row.cells.size() != t.header.size())
      throw_bad_input(file, line_ref(row.line), "",
                      fmt::format("{} fields, the header has {}", row.cells.size(), t.header.size()));
    t.rows.push_back(std::move(row));
    row = {};
  }
  if (t.rows.empty()) throw_bad_input(file, "", "", "no data rows after the header");
  return t;
}

void Cells::fail(std::size_t col, const std::string& message) const {
  throw_bad_input(t_.file, line_ref(r_.line), fmt::format("column \"{}\"", t_.header[col]), message);
}

double Cells::number(std::size_t col) const {
  const std::string& s = r_.cells[col];
  if (s.empty()) fail(col, "empty (expected a number)");
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) fail(col, fmt::format("\"{}\" is not a number", s));
  if (!std::isfinite(v) || v < 0) fail(col, fmt::format("{} is not a finite number >= 0", s));
  return v;
}

std::int64_t Cells::integer(std::size_t col, std::int64_t lo, std::int64_t hi) const {
  const std::string& s = r_.cells[col];
  if (s.empty()) fail(col, "empty (expected an integer)");
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) fail(col, fmt::format("\"{}\" is not an integer", s));
  if (v < lo || v > hi) fail(col, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
  return v;
}

std::optional<std::int64_t> Cells::opt_integer(std::size_t col, std::int64_t lo, std::int64_t hi) const {
  if (r_.cells[col].empty()) return std::nullopt;
  return integer(col, lo, hi);
}

}  // namespace moeplan::perf::csv
