// The import driver: input expansion, format detection, parallel parsing, assembly.
#include "moeplan/trace/import.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <optional>

#include <omp.h>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/trace/builder.hpp"
#include "moeplan/trace/jsonl.hpp"
#include "moeplan/trace/store.hpp"

namespace moeplan::trace {
namespace fs = std::filesystem;

const char* format_name(Format f) {
  switch (f) {
    case Format::paper_c_json: return "paper-c-json";
    case Format::moe_beyond_csv: return "moe-beyond-csv";
    case Format::npy: return "npy";
    case Format::npz: return "npz";
    case Format::jsonl: return "jsonl";
    case Format::moet: return "moet";
  }
  return "unknown";
}

namespace {

// Natural order: digit runs compare by value, everything else bytewise.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) &&
        std::isdigit(static_cast<unsigned char>(b[j]))) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && a[i2] == '0') ++i2;
      while (j2 < b.size() && b[j2] == '0') ++j2;
      std::size_t ie = i2, je = j2;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      if (ie - i2 != je - j2) return ie - i2 < je - j2;
      int c = a.compare(i2, ie - i2, b, j2, je - j2);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Files a directory walk picks up. Sidecars (*.phases.json) belong to their .npy/.npz.
bool is_trace_file_name(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  if (ends_with(name, ".phases.json")) return false;
  std::string base = ends_with(name, ".zst") ? name.substr(0, name.size() - 4) : name;
  for (const char* ext : {".json", ".csv", ".npy", ".npz", ".jsonl", ".moet"})
    if (ends_with(base, ext)) return true;
  return false;
}

std::string sidecar_for(const std::string& path) {
  std::string side = path + ".phases.json";
  if (fs::exists(side)) {
    auto bytes = io::read_file(side);
    return std::string(bytes.begin(), bytes.end());
  }
  return {};
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> out;
  for (const auto& input : inputs) {
    std::error_code ec;
    auto status = fs::status(input, ec);
    if (ec || !fs::exists(status)) throw_io(input, "no such file or directory");
    if (!fs::is_directory(status)) {
      out.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw_io(input, "cannot list directory: " + ec.message());
      if (it->is_regular_file() && is_trace_file_name(it->path().filename().string()))
        found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end(), natural_less);
    if (found.empty()) throw_bad_input(input, "", "", "directory holds no trace files");
    out.insert(out.end(), found.begin(), found.end());
  }
  if (out.empty()) throw_usage("no input files");
  return out;
}

std::string default_domain(const std::string& path) {
  fs::path p = fs::absolute(fs::path(path)).lexically_normal();
  std::string parent = p.parent_path().filename().string();
  return parent.empty() ? std::string("default") : parent;
}

Format detect_format(const std::string& path) {
  std::string head = io::read_head(path, 64);
  // Before calling a file empty or unknown, read it whole: that names the real cause when
  // there is one (a missing file, a zstd frame cut short).
  auto reject = [&path](const std::string& message) -> Format {
    io::read_file(path);
    throw_bad_input(path, "", "", message);
  };
  if (head.empty()) return reject("empty file");
  if (is_moet(std::span<const char>(head.data(), head.size()))) return Format::moet;
  if (head.rfind("\x93NUMPY", 0) == 0) return Format::npy;
  if (head.rfind("PK\x03\x04", 0) == 0 || head.rfind("PK\x05\x06", 0) == 0) return Format::npz;
  std::size_t i = 0;
  if (head.rfind("\xEF\xBB\xBF", 0) == 0) i = 3;
  while (i < head.size() && std::isspace(static_cast<unsigned char>(head[i]))) ++i;
  if (i == head.size()) return reject("empty file (only whitespace)");
  if (head[i] == '[') return Format::paper_c_json;
  if (head[i] == '{') return Format::jsonl;
  if (head.compare(i, 9, "Layer ID,") == 0) return Format::moe_beyond_csv;
  return reject("unrecognised trace format (expected Paper C JSON, MoE-Beyond CSV, .npy, .npz, moeplan JSONL or .moet)");
}

ParsedFile parse_file(const std::string& path, Format format, const std::string& domain) {
  if (format == Format::moet) {
    TraceSet set = load_moet(path);
    ParsedFile pf;
    pf.path = path;
    pf.model = set.model;
    for (std::size_t r = 0; r < set.requests.size(); ++r) {
      pf.requests.push_back(extract_request(set, r));
      if (!domain.empty()) pf.requests.back().domain = domain;
    }
    return pf;
  }
  std::vector<char> bytes = io::read_file(path);
  if (bytes.empty()) throw_bad_input(path, "", "", "empty file");
  std::span<const char> view(bytes.data(), bytes.size());
  ParsedFile pf;
  switch (format) {
    case Format::paper_c_json: pf = parse_paper_c_json(view, path, domain); break;
    case Format::moe_beyond_csv: pf = parse_moe_beyond_csv(view, path, domain); break;
    case Format::npy: pf = parse_npy(view, path, domain, sidecar_for(path)); break;
    case Format::npz: pf = parse_npz(view, path, domain, sidecar_for(path)); break;
    case Format::jsonl: pf = parse_jsonl(view, path, domain); break;
    case Format::moet: break;
  }
  pf.path = path;
  return pf;
}

RequestRouting extract_request(const TraceSet& set, std::size_t r) {
  const Request& q = set.requests[r];
  RequestRouting out;
  out.id = q.id;
  out.domain = set.domains.at(q.domain);
  out.source = q.source;
  out.prefill_tokens = q.prefill_tokens;
  out.decode_tokens = q.decode_tokens;
  const std::size_t per = set.ids_per_token();
  const std::size_t begin = q.token_offset * per, n = q.tokens() * per;
  out.ids.resize(n);
  set.ids.visit([&](auto span) {
    for (std::size_t i = 0; i < n; ++i) out.ids[i] = span[begin + i];
  });
  if (set.has_weights())
    out.weights.assign(set.weights.begin() + static_cast<std::ptrdiff_t>(begin),
                       set.weights.begin() + static_cast<std::ptrdiff_t>(begin + n));
  return out;
}

TraceSet assemble(std::vector<ParsedFile> files, const ImportOptions& options) {
  if (files.empty()) throw_usage("no input files");
  TraceBuilder builder(options);
  for (auto& f : files) {
    builder.add_file(std::move(f));
    f = ParsedFile{};  // release its arrays now: memory holds one copy of the routing at a time
  }
  return builder.finish();
}

namespace {

// Streams one JSONL file into the builder, block by block (docs/architecture.md "Memory").
void stream_jsonl(const std::string& path, const std::string& domain, TraceBuilder& builder,
                  const std::function<void(std::uint64_t)>& consumed) {
  JsonlStream stream(path, domain,
                     {[&](const ModelInfo& m) { builder.begin_file(m, path); },
                      [&](RequestRouting r) { builder.add(std::move(r)); }});
  io::read_pieces(path, std::size_t{8} << 20, [&](std::span<const char> piece, std::uint64_t n) {
    stream.feed(piece);
    consumed(n);
  });
  stream.finish();
}

}  // namespace

TraceSet import_traces(const std::vector<std::string>& inputs, const ImportOptions& options) {
  if (!simdjson::validate_utf8(options.domain.data(), options.domain.size()))
    throw_usage("--domain is not valid UTF-8");
  std::vector<std::string> files = expand_inputs(inputs);
  if (files.size() == 1 && detect_format(files[0]) == Format::moet) {
    TraceSet set = load_moet(files[0]);
    if (!options.domain.empty()) {
      set.domains = {options.domain};
      for (auto& r : set.requests) r.domain = 0;
    }
    if (!options.model_name.empty()) set.model.name = options.model_name;
    if (options.num_experts > 0 && options.num_experts != set.model.num_experts)
      throw_usage("--experts " + std::to_string(options.num_experts) + " differs from the " +
                  std::to_string(set.model.num_experts) + " experts stored in " + files[0]);
    return set;
  }

  // Progress counts input bytes as stored, so one huge streamed file moves the bar too.
  std::vector<std::uint64_t> sizes(files.size());
  std::uint64_t total_bytes = 0, done_bytes = 0;
  for (std::size_t i = 0; i < files.size(); ++i) total_bytes += sizes[i] = io::file_size(files[i]);
  auto report = [&](std::uint64_t done) {
    if (options.progress) options.progress(static_cast<std::size_t>(done), static_cast<std::size_t>(total_bytes));
  };

  // Files are parsed in parallel a window at a time and appended in input order, so memory
  // holds the routing built so far plus one window of parsed files. The window does not
  // change the result or which error is reported: files are appended, and their errors
  // raised, strictly in input order.
  TraceBuilder builder(options);
  const std::size_t window = 4 * static_cast<std::size_t>(std::max(1, omp_get_max_threads()));
  std::vector<ParsedFile> parsed;
  std::vector<std::exception_ptr> errors;
  std::vector<char> streamed;
  for (std::size_t start = 0; start < files.size(); start += window) {
    const std::size_t count = std::min(window, files.size() - start);
    parsed.assign(count, ParsedFile{});
    errors.assign(count, nullptr);
    streamed.assign(count, 0);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::ptrdiff_t w = 0; w < static_cast<std::ptrdiff_t>(count); ++w) {
      const std::size_t i = start + static_cast<std::size_t>(w);
      const auto& path = files[i];
      try {
        Format format = detect_format(path);
        if (format == Format::jsonl && sizes[i] >= options.stream_jsonl_from_bytes) {
          streamed[static_cast<std::size_t>(w)] = 1;  // read below, in order, block by block
          continue;
        }
        std::string domain = options.domain.empty() ? default_domain(path) : options.domain;
        parsed[static_cast<std::size_t>(w)] = parse_file(path, format, domain);
      } catch (...) {
        errors[static_cast<std::size_t>(w)] = std::current_exception();
      }
    }
    for (std::size_t w = 0; w < count; ++w) {
      const std::size_t i = start + w;
      if (errors[w]) std::rethrow_exception(errors[w]);
      if (streamed[w]) {
        const std::string domain = options.domain.empty() ? default_domain(files[i]) : options.domain;
        stream_jsonl(files[i], domain, builder, [&](std::uint64_t n) { report(done_bytes + n); });
      } else {
        builder.add_file(std::move(parsed[w]));
        parsed[w] = ParsedFile{};
      }
      done_bytes += sizes[i];
      report(done_bytes);
    }
  }

  TraceSet set = builder.finish();
  set.provenance["inputs"] = inputs;
  set.provenance["files"] = files.size();
  set.provenance["format"] = format_name(detect_format(files[0]));
  return set;
}

}  // namespace moeplan::trace
