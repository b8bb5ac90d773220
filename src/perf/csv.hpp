// Internal: a small RFC 4180 CSV reader for the measurement files (header row, quoted fields
// with "" escapes, LF or CRLF line ends), and typed cell access whose errors name the file,
// the line and the column.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moeplan::perf::csv {

struct Table {
  std::string file;
  std::vector<std::string> header;
  struct Row {
    std::size_t line = 0;  // 1-based line of the record's first byte
    std::vector<std::string> cells;
  };
  std::vector<Row> rows;

  // Index of a header column; Error{bad_input} naming the column when absent.
  std::size_t column(std::string_view name) const;
  std::optional<std::size_t> find_column(std::string_view name) const;
};

// Parses the whole text. Every record must have as many fields as the header; the header
// must contain every name in `required`. Throws Error{bad_input} with "line N" otherwise.
Table parse(std::string_view text, const std::string& file, std::span<const char* const> required);

// Typed access to row `r`, column `col`. Errors name the file, the line and the column.
class Cells {
 public:
  Cells(const Table& t, const Table::Row& r) : t_(t), r_(r) {}
  const std::string& str(std::size_t col) const { return r_.cells[col]; }
  // A finite number >= 0 (required, non-empty).
  double number(std::size_t col) const;
  // An integer in [lo, hi] (required, non-empty).
  std::int64_t integer(std::size_t col, std::int64_t lo, std::int64_t hi) const;
  // Empty cell -> nullopt; otherwise as integer().
  std::optional<std::int64_t> opt_integer(std::size_t col, std::int64_t lo, std::int64_t hi) const;
  [[noreturn]] void fail(std::size_t col, const std::string& message) const;

 private:
  const Table& t_;
  const Table::Row& r_;
};

}  // namespace moeplan::perf::csv
