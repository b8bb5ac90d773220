// The import driver: input expansion, format detection, parallel parsing, assembly.
#include "moeplan/trace/import.hpp"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
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
  switch (format) {
    case Format::paper_c_json: return parse_paper_c_json(view, path, domain);
    case Format::moe_beyond_csv: return parse_moe_beyond_csv(view, path, domain);
    case Format::npy: return parse_npy(view, path, domain, sidecar_for(path));
    case Format::npz: return parse_npz(view, path, domain, sidecar_for(path));
    case Format::jsonl: return parse_jsonl(view, path, domain);
    case Format::moet: break;
  }
  throw Error(ErrorKind::internal, {path, "", ""}, "unhandled format");
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
  TraceSet set;
  if (files.empty()) throw_usage("no input files");
  // Model shape: all files must agree on MoE layers and top-k.
  const ParsedFile* first = nullptr;
  std::string first_source;
  int file_experts = 0;
  bool any_weights = false, all_weights = true;
  std::size_t total_requests = 0;
  for (const auto& f : files) {
    for (const auto& r : f.requests) {
      any_weights |= !r.weights.empty();
      all_weights &= !r.weights.empty();
      // Ids, domains and sources are stored as JSON text (.moet metadata, JSONL): a file or
      // folder name that is not UTF-8 (e.g. Latin-1) is reported here, not by the writer.
      for (const auto& [field, text] : {std::pair<const char*, const std::string*>{"id", &r.id},
                                        {"domain", &r.domain}, {"source", &r.source}})
        if (!simdjson::validate_utf8(text->data(), text->size()))
          throw_bad_input(r.source, "", field,
                          "not valid UTF-8 (request ids, domains and sources come from file and folder "
                          "names; rename them or use --domain)");
    }
    if (!simdjson::validate_utf8(f.model.name.data(), f.model.name.size()))
      throw_bad_input(f.requests.empty() ? std::string() : f.requests.front().source, "", "model",
                      "model name is not valid UTF-8");
    total_requests += f.requests.size();
    file_experts = std::max(file_experts, f.model.num_experts);
    std::string src = f.requests.empty() ? std::string("(empty input)") : f.requests.front().source;
    if (!first) {
      first = &f;
      first_source = src;
      set.model = f.model;
      continue;
    }
    if (f.model.moe_layer_ids != set.model.moe_layer_ids)
      throw_bad_input(src, "", "moe layers",
                      "MoE layers differ from those of " + first_source);
    if (f.model.top_k != set.model.top_k)
      throw_bad_input(src, "", "top_k",
                      "top-k " + std::to_string(f.model.top_k) + " differs from " +
                          std::to_string(set.model.top_k) + " in " + first_source);
    set.model.num_layers = std::max(set.model.num_layers, f.model.num_layers);
    if (set.model.name.empty()) set.model.name = f.model.name;
  }
  if (total_requests == 0) throw_bad_input(first_source, "", "", "no requests");
  if (any_weights && !all_weights)
    throw_bad_input(first_source, "", "weights", "some requests have router weights and others not");
  if (!simdjson::validate_utf8(options.model_name.data(), options.model_name.size()))
    throw_usage("--model-name is not valid UTF-8");
  if (!options.model_name.empty()) set.model.name = options.model_name;

  // E: explicit option, else the files' metadata, else max id + 1.
  std::uint32_t max_id = 0;
  for (const auto& f : files)
    for (const auto& r : f.requests)
      for (auto id : r.ids) max_id = std::max<std::uint32_t>(max_id, id);
  int experts = options.num_experts > 0 ? options.num_experts
                : file_experts > 0      ? file_experts
                                        : static_cast<int>(max_id) + 1;
  set.model.num_experts = experts;
  if (max_id >= static_cast<std::uint32_t>(experts)) {
    for (const auto& f : files)
      for (const auto& r : f.requests)
        for (std::size_t i = 0; i < r.ids.size(); ++i)
          if (r.ids[i] >= static_cast<std::uint32_t>(experts))
            throw_bad_input(r.source, "request " + r.id,
                            "token " + std::to_string(i / std::max<std::size_t>(1, set.ids_per_token())),
                            "expert id " + std::to_string(r.ids[i]) + " >= experts (" +
                                std::to_string(experts) + ")");
  }

  // Requests, domains, offsets.
  std::map<std::string, std::uint32_t> domain_index;
  std::vector<const RequestRouting*> order;
  order.reserve(total_requests);
  std::uint64_t offset = 0;
  const std::size_t per = set.ids_per_token();
  for (const auto& f : files)
    for (const auto& r : f.requests) {
      std::string label = options.domain.empty() ? r.domain : options.domain;
      auto [it, inserted] = domain_index.emplace(label, static_cast<std::uint32_t>(set.domains.size()));
      if (inserted) set.domains.push_back(label);
      if (r.ids.size() != (std::size_t{r.prefill_tokens} + r.decode_tokens) * per ||
          (!r.weights.empty() && r.weights.size() != r.ids.size()))
        throw_bad_input(r.source, "request " + r.id, "ids",
                        "routing size does not match its token counts");
      Request q;
      q.id = r.id;
      q.domain = it->second;
      q.source = r.source;
      q.token_offset = offset;
      q.prefill_tokens = r.prefill_tokens;
      q.decode_tokens = r.decode_tokens;
      offset += q.tokens();
      set.requests.push_back(std::move(q));
      order.push_back(&r);
    }

  // The dense array, filled in parallel (each request writes its own range).
  const std::size_t total = offset * per;
  auto fill = [&](auto* dst, float* wdst) {
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(order.size());
#pragma omp parallel for schedule(dynamic, 16)
    for (std::ptrdiff_t i = 0; i < n; ++i) {
      const RequestRouting& r = *order[static_cast<std::size_t>(i)];
      const std::size_t base = set.requests[static_cast<std::size_t>(i)].token_offset * per;
      for (std::size_t j = 0; j < r.ids.size(); ++j)
        dst[base + j] = static_cast<std::remove_pointer_t<decltype(dst)>>(r.ids[j]);
      if (wdst) std::copy(r.weights.begin(), r.weights.end(), wdst + base);
    }
  };
  if (any_weights) set.weights.resize(total);
  float* wdst = any_weights ? set.weights.data() : nullptr;
  if (id_width_for(experts) == 1) {
    std::vector<std::uint8_t> ids(total);
    fill(ids.data(), wdst);
    set.ids = ExpertIds::owned(std::move(ids));
  } else {
    std::vector<std::uint16_t> ids(total);
    fill(ids.data(), wdst);
    set.ids = ExpertIds::owned(std::move(ids));
  }
  set.check(first_source);
  return set;
}

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

  std::vector<ParsedFile> parsed(files.size());
  std::vector<std::exception_ptr> errors(files.size());
  std::atomic<std::size_t> done{0};
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(files.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const auto& path = files[static_cast<std::size_t>(i)];
    try {
      Format format = detect_format(path);
      std::string domain = options.domain.empty() ? default_domain(path) : options.domain;
      parsed[static_cast<std::size_t>(i)] = parse_file(path, format, domain);
    } catch (...) {
      errors[static_cast<std::size_t>(i)] = std::current_exception();
    }
    std::size_t d = ++done;
    if (options.progress) {
#pragma omp critical(moeplan_progress)
      options.progress(d, files.size());
    }
  }
  // Report the first failing file in input order, whatever the thread timing.
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);

  TraceSet set = assemble(std::move(parsed), options);
  set.provenance["inputs"] = inputs;
  set.provenance["files"] = files.size();
  set.provenance["format"] = format_name(detect_format(files[0]));
  return set;
}

}  // namespace moeplan::trace
