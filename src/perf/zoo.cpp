#include "moeplan/perf/zoo.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "moeplan/io/error.hpp"

namespace moeplan::perf {

namespace fs = std::filesystem;

namespace {

constexpr std::array kZoo{
    ZooEntry{"bloom-176b", "bigscience--bloom.json"},
    ZooEntry{"deepseek-r1", "deepseek-ai--DeepSeek-R1.json"},
    ZooEntry{"deepseek-v2-lite", "deepseek-ai--DeepSeek-V2-Lite.json"},
    ZooEntry{"deepseek-v3", "deepseek-ai--DeepSeek-V3.json"},
    ZooEntry{"deepseek-v3.1-nvfp4", "nvidia--DeepSeek-V3.1-NVFP4.json"},
    ZooEntry{"deepseek-v3.2", "deepseek-ai--DeepSeek-V3.2.json"},
    ZooEntry{"glm-5", "nvidia--GLM-5-NVFP4.json"},
    ZooEntry{"gpt-oss-120b", "openai--gpt-oss-120b.json"},
    ZooEntry{"gpt-oss-20b", "openai--gpt-oss-20b.json"},
    ZooEntry{"kimi-k2", "moonshotai--Kimi-K2-Instruct.json"},
    ZooEntry{"kimi-k2.5", "moonshotai--Kimi-K2.5.json"},
    ZooEntry{"llama-2-70b", "meta-llama--Llama-2-70b-hf.json"},
    ZooEntry{"llama-3.1-405b", "meta-llama--Meta-Llama-3.1-405B.json"},
    ZooEntry{"llama-3.1-70b", "meta-llama--Meta-Llama-3.1-70B.json"},
    ZooEntry{"llama-3.1-70b-fp8", "nvidia--Llama-3.1-70B-Instruct-FP8.json"},
    ZooEntry{"llama-3.1-8b", "meta-llama--Meta-Llama-3.1-8B.json"},
    ZooEntry{"llama-4-maverick", "meta-llama--Llama-4-Maverick-17B-128E-Instruct.json"},
    ZooEntry{"llama-4-scout", "meta-llama--Llama-4-Scout-17B-16E-Instruct.json"},
    ZooEntry{"minimax-m2.5", "MiniMaxAI--MiniMax-M2.5.json"},
    ZooEntry{"mixtral-8x22b", "mistralai--Mixtral-8x22B-v0.1.json"},
    ZooEntry{"mixtral-8x7b", "mistralai--Mixtral-8x7B-v0.1.json"},
    ZooEntry{"qwen3-235b-a22b", "Qwen--Qwen3-235B-A22B.json"},
    ZooEntry{"qwen3-235b-a22b-fp8", "Qwen--Qwen3-235B-A22B-FP8.json"},
    ZooEntry{"qwen3-30b-a3b", "Qwen--Qwen3-30B-A3B.json"},
    ZooEntry{"qwen3-32b", "Qwen--Qwen3-32B.json"},
    ZooEntry{"qwen3-32b-fp8", "Qwen--Qwen3-32B-FP8.json"},
    ZooEntry{"qwen3-coder-480b", "Qwen--Qwen3-Coder-480B-A35B-Instruct.json"},
    ZooEntry{"qwen3.5-397b", "Qwen--Qwen3.5-397B-A17B.json"},
};

bool has_models(const fs::path& data) {
  std::error_code ec;
  return fs::is_regular_file(data / "models" / kZoo[0].file, ec);
}

fs::path exe_dir() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}

// "org--Name.json" -> "org/Name" (built by concatenation: GCC 12 warns, wrongly, on an
// in-place replace here).
std::string hf_id_of(const ZooEntry& e) {
  const std::string file = e.file;
  const std::string stem = file.substr(0, file.size() - 5);
  const auto pos = stem.find("--");
  return pos == std::string::npos ? stem : stem.substr(0, pos) + "/" + stem.substr(pos + 2);
}

}  // namespace

std::span<const ZooEntry> zoo() { return kZoo; }

std::string zoo_dir() {
  if (const char* env = std::getenv("MOEPLAN_DATA_DIR"); env && *env) {
    if (has_models(env)) return (fs::path(env) / "models").string();
    throw_io(env, "MOEPLAN_DATA_DIR has no models/ folder with the bundled configs");
  }
  std::vector<fs::path> candidates;
  if (fs::path e = exe_dir(); !e.empty()) {
    candidates = {e / "../data", e / "../../data", e / "../share/moeplan/data"};
  }
  // The source tree this file was compiled from (src/perf/zoo.cpp -> ../../data).
  candidates.push_back(fs::path(__FILE__).parent_path() / "../../data");
  for (const fs::path& c : candidates)
    if (has_models(c)) return fs::weakly_canonical(c / "models").string();
  throw_io("data/models", "bundled model configs not found (set MOEPLAN_DATA_DIR to the repository's data/)");
}

ModelSpec load_model(const std::string& what) {
  for (const ZooEntry& e : kZoo) {
    if (what == e.name || what == hf_id_of(e)) {
      ModelSpec m = load_model_config((fs::path(zoo_dir()) / e.file).string());
      m.name = e.name;
      return m;
    }
  }
  std::error_code ec;
  if (!fs::exists(what, ec) && what.find('/') == std::string::npos && what.find(".json") == std::string::npos) {
    std::string names;
    for (const ZooEntry& e : kZoo) names += std::string(names.empty() ? "" : ", ") + e.name;
    throw_usage("unknown model \"" + what + "\" (not a file; zoo names: " + names + ")");
  }
  return load_model_config(what);
}

namespace {

std::string normalised_model(const std::string& id) {
  std::string s = id.substr(id.rfind('/') == std::string::npos ? 0 : id.rfind('/') + 1);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.rfind("meta-", 0) == 0) s.erase(0, 5);
  for (std::size_t at; (at = s.find("-instruct")) != std::string::npos;) s.erase(at, 9);  // also mid-name (-Instruct-v0.1)
  static const char* kSuffixes[] = {"-hf", "-fp8", "-nvfp4", "-fp4", "-awq", "-bf16"};
  for (bool again = true; again;) {
    again = false;
    for (const char* x : kSuffixes) {
      const std::string suf = x;
      if (s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0) {
        s.erase(s.size() - suf.size());
        again = true;
      }
    }
    if (s.size() > 5 && s[s.size() - 5] == '-' &&
        std::all_of(s.end() - 4, s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      s.erase(s.size() - 5);
      again = true;
    }
  }
  return s;
}

}  // namespace

std::string zoo_name_for_id(const std::string& hf_id) {
  for (const ZooEntry& e : kZoo)
    if (hf_id == hf_id_of(e) || hf_id == e.name) return e.name;
  const std::string want = normalised_model(hf_id);
  for (const ZooEntry& e : kZoo)
    if (normalised_model(hf_id_of(e)) == want) return e.name;
  return {};
}

}  // namespace moeplan::perf
