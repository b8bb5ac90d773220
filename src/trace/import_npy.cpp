#include "moeplan/io/error.hpp"
#include "moeplan/trace/import.hpp"

namespace moeplan::trace {

// PLACEHOLDER: being written (issue 2).
ParsedFile parse_npy(std::span<const char>, const std::string& path, const std::string&,
                     const std::string&) {
  throw Error(ErrorKind::internal, {path, "", ""}, "npy importer not yet written");
}
ParsedFile parse_npz(std::span<const char>, const std::string& path, const std::string&,
                     const std::string&) {
  throw Error(ErrorKind::internal, {path, "", ""}, "npz importer not yet written");
}

}  // namespace moeplan::trace
