// moeplan::io — the one error type of the library.
// Owns: Error (kind + location + one-line message) and the documented exit codes.
// Library code throws Error and never prints or exits; front ends map kind -> exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace moeplan {

enum class ErrorKind {
  usage,       // bad command line or option combination
  bad_input,   // an input file is malformed or inconsistent
  infeasible,  // the request cannot be satisfied (e.g. too few slots)
  io,          // cannot open, read or write a file
  internal,    // a bug: an invariant of moeplan itself broke
};

// Exit codes of every moeplan command (docs/errors.md).
int exit_code(ErrorKind kind);
const char* kind_name(ErrorKind kind);

// Where in an input the problem is. Empty parts are omitted from the message.
struct Location {
  std::string file;    // path as given by the user
  std::string record;  // e.g. "step 3", "line 17", "request 12"
  std::string field;   // e.g. "layer \"5\"", "Activated Expert IDs"
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, Location where, const std::string& message);
  ErrorKind kind() const { return kind_; }
  const Location& where() const { return where_; }
  const std::string& message() const { return message_; }

 private:
  ErrorKind kind_;
  Location where_;
  std::string message_;
};

// Shorthands for the common case.
[[noreturn]] void throw_bad_input(const std::string& file, const std::string& record,
                                  const std::string& field, const std::string& message);
[[noreturn]] void throw_usage(const std::string& message);
[[noreturn]] void throw_io(const std::string& file, const std::string& message);

}  // namespace moeplan
