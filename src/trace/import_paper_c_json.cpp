#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

namespace moeplan::trace {

// PLACEHOLDER: being written (issue 2).
ParsedFile parse_paper_c_json(std::span<const char>, const std::string& path, const std::string&) {
  throw Error(ErrorKind::internal, {path, "", ""}, "paper_c_json importer not yet written");
}

}  // namespace moeplan::trace
