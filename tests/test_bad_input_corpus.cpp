// The bad-input corpus: every tests/bad-inputs/<format>/MANIFEST.tsv lists bad files with the
// exit code and a stderr substring that moeplan must give. Lines are
//   filename <TAB> exit code <TAB> substring [<TAB> extra CLI args, space separated]
// The command is `moeplan trace convert FILE -o OUT`, unless the folder has a COMMAND file: one
// line of arguments where {file} is the bad file, {out} the output path and {src} the
// repository root (e.g. `place {src}/data/samples/x.moet --nodes 2 --previous {file} -o {out}`).
// ('#' starts a comment line). For each entry: the exit code matches, stderr is exactly one
// line naming the file and holding the substring, and no output (or temp file) is left.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace fs = std::filesystem;
using moeplan::testing::run_cli;
using moeplan::testing::TempDir;

namespace {

struct Entry {
  fs::path file;
  int exit_code = 0;
  std::string substring;
  std::vector<std::string> extra_args;
  std::vector<std::string> command;  // the folder's COMMAND template, empty: trace convert
  std::string where;  // manifest:line, for messages
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

std::vector<Entry> load_manifests() {
  std::vector<Entry> out;
  std::vector<fs::path> manifests;
  for (const auto& dir : fs::directory_iterator(moeplan::testing::source_dir() / "tests" / "bad-inputs"))
    if (fs::exists(dir.path() / "MANIFEST.tsv")) manifests.push_back(dir.path() / "MANIFEST.tsv");
  std::sort(manifests.begin(), manifests.end());
  for (const auto& m : manifests) {
    std::vector<std::string> command;
    if (fs::exists(m.parent_path() / "COMMAND")) {
      std::ifstream cin(m.parent_path() / "COMMAND");
      std::string text;
      std::getline(cin, text);
      for (const auto& a : split(text, ' '))
        if (!a.empty()) command.push_back(a);
    }
    std::ifstream in(m);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      auto cols = split(line, '\t');
      Entry e;
      e.where = m.string() + ":" + std::to_string(n);
      if (cols.size() < 3 || cols.size() > 4) {
        ADD_FAILURE() << e.where << ": expected 3 or 4 tab-separated columns";
        continue;
      }
      e.file = m.parent_path() / cols[0];
      e.exit_code = std::stoi(cols[1]);
      e.substring = cols[2];
      e.command = command;
      if (cols.size() == 4)
        for (const auto& a : split(cols[3], ' '))
          if (!a.empty()) e.extra_args.push_back(a);
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace

TEST(BadInputCorpus, EveryEntryFailsCleanly) {
  const auto entries = load_manifests();
  ASSERT_GE(entries.size(), 20u) << "corpus manifests not found or nearly empty";
  for (const auto& e : entries) {
    SCOPED_TRACE(e.where + " " + e.file.filename().string());
    ASSERT_TRUE(fs::exists(e.file)) << "listed file is missing";
    TempDir tmp;
    std::vector<std::string> args = {"trace", "convert", e.file.string(), "-o", tmp.file("out.moet")};
    if (!e.command.empty()) {
      args.clear();
      for (std::string a : e.command) {
        for (auto [key, value] : {std::pair<std::string, std::string>{"{file}", e.file.string()},
                                  {"{out}", tmp.file("out")},
                                  {"{src}", moeplan::testing::source_dir().string()}})
          if (auto at = a.find(key); at != std::string::npos) a.replace(at, key.size(), value);
        args.push_back(a);
      }
    }
    args.insert(args.end(), e.extra_args.begin(), e.extra_args.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, e.exit_code) << r.err;
    // Exactly one line, ending in a newline.
    EXPECT_FALSE(r.err.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.back(), '\n');
    EXPECT_NE(r.err.find(e.file.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(e.substring), std::string::npos) << r.err;
    EXPECT_TRUE(tmp.entries().empty()) << "output or temp file left behind";
  }
}

// Every file in a corpus folder is listed in its manifest (nothing silently untested), except
// READMEs and *.phases.json sidecars, which belong to the .npy/.npz file they sit beside.
TEST(BadInputCorpus, ManifestsListEveryFile) {
  std::vector<std::string> listed;
  for (const auto& e : load_manifests()) listed.push_back(e.file.string());
  for (const auto& dir : fs::directory_iterator(moeplan::testing::source_dir() / "tests" / "bad-inputs")) {
    if (!fs::exists(dir.path() / "MANIFEST.tsv")) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      const std::string name = f.path().filename().string();
      if (name == "MANIFEST.tsv" || name == "COMMAND" || name.rfind("README", 0) == 0) continue;
      if (name.size() > 12 && name.compare(name.size() - 12, 12, ".phases.json") == 0) continue;
      EXPECT_NE(std::find(listed.begin(), listed.end(), f.path().string()), listed.end())
          << name << " is in " << dir.path() << " but not in its MANIFEST.tsv";
    }
  }
}

// Names that are not UTF-8 (a Latin-1 file or folder name becomes a request id or domain,
// which .moet stores as JSON text) are bad input naming the file, not an internal error from
// the JSON writer. Kept out of the corpus folders: such names do not belong in git.
TEST(BadInputCorpus, NonUtf8FileAndFolderNames) {
  const std::string valid = "[{\"0\":null,\"1\":[[3,1],[0,2]]},{\"0\":null,\"1\":[[2,3]]}]";
  for (const std::string rel : {std::string("caf\xe9.json"), std::string("d\xe9p\xf4t/1.json")}) {
    TempDir in, out;
    const fs::path file = in.path() / rel;
    fs::create_directories(file.parent_path());
    moeplan::testing::write_text(file.string(), valid);
    const auto r = run_cli({"trace", "convert", in.path().string(), "-o", out.file("out.moet")});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(file.string() + ": "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;
    EXPECT_TRUE(out.entries().empty());
  }
  TempDir out;
  const auto sample = moeplan::testing::source_dir() / "data/samples/maverick-mmlu-40.moet";
  const auto r = run_cli({"trace", "convert", sample.string(), "-o", out.file("out.moet"), "--domain", "caf\xe9"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--domain is not valid UTF-8"), std::string::npos) << r.err;
  EXPECT_TRUE(out.entries().empty());
}
