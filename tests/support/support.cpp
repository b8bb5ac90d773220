#include "support/support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace moeplan::testing {
namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(MOEPLAN_SOURCE_DIR); }

fs::path shared_dir() {
  if (const char* env = std::getenv("MOEPLAN_SHARED")) return fs::path(env);
  return (source_dir() / ".." / "shared").lexically_normal();
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  if (!ci) return false;
  std::string v(ci);
  return !(v.empty() || v == "0" || v == "false");
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("moeplan-test-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
  return out;
}

static std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliResult run_cli(const std::vector<std::string>& args) {
  TempDir tmp;
  std::string out_path = tmp.file("stdout"), err_path = tmp.file("stderr");
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    std::vector<char*> argv;
    std::string bin = MOEPLAN_CLI_PATH;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

moeplan::Error error_from(const std::function<void()>& run, const std::string& what) {
  try {
    run();
  } catch (const moeplan::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << what;
  return moeplan::Error(moeplan::ErrorKind::internal, {}, "none");
}

void write_text(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

}  // namespace moeplan::testing
