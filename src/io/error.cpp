#include "moeplan/io/error.hpp"

namespace moeplan {
namespace {

std::string format_error(const Location& where, const std::string& message) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (part.empty()) return;
    if (!out.empty()) out += ": ";
    out += part;
  };
  add(where.file);
  add(where.record);
  add(where.field);
  add(message);
  return out;
}

}  // namespace

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage: return 2;
    case ErrorKind::bad_input: return 3;
    case ErrorKind::infeasible: return 4;
    case ErrorKind::io: return 5;
    case ErrorKind::internal: return 70;
  }
  return 70;
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage: return "usage";
    case ErrorKind::bad_input: return "bad input";
    case ErrorKind::infeasible: return "infeasible";
    case ErrorKind::io: return "i/o";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

Error::Error(ErrorKind kind, Location where, const std::string& message)
    : std::runtime_error(format_error(where, message)),
      kind_(kind),
      where_(std::move(where)),
      message_(message) {}

void throw_bad_input(const std::string& file, const std::string& record, const std::string& field,
                     const std::string& message) {
  throw Error(ErrorKind::bad_input, Location{file, record, field}, message);
}

void throw_usage(const std::string& message) { throw Error(ErrorKind::usage, {}, message); }

void throw_io(const std::string& file, const std::string& message) {
  throw Error(ErrorKind::io, Location{file, "", ""}, message);
}

}  // namespace moeplan
