// Helpers shared by the tests: paths, ../shared data gating, running the CLI, temp dirs.
#pragma once

#include <gtest/gtest.h>

#include "moeplan/io/error.hpp"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace moeplan::testing {

// The repository root and the ../shared folder beside it.
std::filesystem::path source_dir();
std::filesystem::path shared_dir();

// True when running under CI (environment variable CI set and not "0"/"false").
bool in_ci();

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of all entries (to check that no partial output was left behind).
  std::vector<std::string> entries() const;

 private:
  std::filesystem::path path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the built moeplan binary with the given arguments (no shell interpretation).
CliResult run_cli(const std::vector<std::string>& args);

// The moeplan::Error that `run` throws; when it throws none, the test fails (naming `what`)
// and an internal error is returned so that callers can still inspect something.
moeplan::Error error_from(const std::function<void()>& run, const std::string& what);

// Writes bytes to a file.
void write_text(const std::string& path, const std::string& content);

}  // namespace moeplan::testing

// In a TEST body: skips (or fails under CI) when a path under ../shared is absent.
#define MOEPLAN_REQUIRE_SHARED(relpath)                                                  \
  do {                                                                                   \
    auto moeplan_p_ = ::moeplan::testing::shared_dir() / (relpath);                      \
    if (!std::filesystem::exists(moeplan_p_)) {                                          \
      if (::moeplan::testing::in_ci()) {                                                 \
        FAIL() << "CI is set but shared data is missing: " << moeplan_p_;                \
      } else {                                                                           \
        GTEST_SKIP() << "shared data not found at " << moeplan_p_                        \
                     << " (tests that need ../shared skip outside CI)";                  \
      }                                                                                  \
    }                                                                                    \
  } while (0)
