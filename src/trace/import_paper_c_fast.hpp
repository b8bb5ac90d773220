// Fast path of the Paper C JSON importer: a scanner for the well-formed common case.
//
// The files are dense with tiny arrays ([[120],[115],...]), where a general JSON walk spends
// its time stepping over brackets. This scanner reads the exact shape those files have and
// checks everything the full importer checks; at the first thing it does not expect (any JSON
// error, an unusual but legal layout such as keys out of order, or a rule violation) it gives
// up, and the full simdjson On-Demand importer reads the file again and names the problem.
// So it never decides that a file is bad, and on every file it accepts it yields exactly what
// the full importer yields (tests/test_import_paper_c.cpp checks both on the real set).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace moeplan::trace::detail {

struct PaperCScan {
  std::vector<std::uint32_t> layer_keys;  // step 0's keys, ascending
  std::vector<bool> layer_is_moe;         // per key: list (MoE) or null (dense)
  std::size_t prefill = 0;                // tokens of step 0
  std::size_t decode = 0;                 // steps after step 0
  std::size_t k = 0;
  std::vector<std::uint16_t> ids;         // [token][moe_layer][k]
};

// `text` must be followed by at least 16 zero bytes (simdjson's padding provides 64).
// Returns false when the file needs the full importer.
bool scan_paper_c(const char* text, std::size_t size, PaperCScan& out);

}  // namespace moeplan::trace::detail

#include <span>
#include <string>

#include "moeplan/trace/import.hpp"

namespace moeplan::trace::detail {

// The full simdjson importer alone, without the fast scanner (tests and fuzzing compare the
// two: on every input the scanner accepts, both must give the same ParsedFile).
ParsedFile parse_paper_c_json_full(std::span<const char> bytes, const std::string& path,
                                   const std::string& domain);

}  // namespace moeplan::trace::detail
