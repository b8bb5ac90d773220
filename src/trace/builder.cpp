// TraceBuilder: the assembly rules of every import, over chunked storage (see builder.hpp).
#include "moeplan/trace/builder.hpp"

#include <simdjson.h>

#include <algorithm>
#include <type_traits>

#include "moeplan/io/error.hpp"

namespace moeplan::trace {
namespace {

// 16 Mi ids per chunk: large enough that chunk bookkeeping costs nothing, small next to any
// trace where peak memory matters.
constexpr std::size_t kChunkIds = std::size_t{1} << 24;

template <class T, class S>
void append_chunked(std::vector<std::vector<T>>& chunks, const S* src, std::size_t n) {
  while (n > 0) {
    if (chunks.empty() || chunks.back().size() == kChunkIds) {
      // Reserved whole so that it never reallocates; its pages are touched only as it fills.
      chunks.emplace_back();
      chunks.back().reserve(kChunkIds);
    }
    std::vector<T>& c = chunks.back();
    const std::size_t take = std::min(n, kChunkIds - c.size());
    const std::size_t at = c.size();
    c.resize(at + take);
    for (std::size_t i = 0; i < take; ++i) c[at + i] = static_cast<T>(src[i]);
    src += take;
    n -= take;
  }
}

// Moves the chunks into one array, releasing each chunk once copied: the array's pages are
// touched only as they are filled, so memory never holds both whole copies.
template <class T, class S>
std::vector<T> drain(std::vector<std::vector<S>>& chunks, std::uint64_t total) {
  if constexpr (std::is_same_v<T, S>) {
    if (chunks.size() == 1) {  // the whole routing fits one chunk: hand it over, no copy
      std::vector<T> out = std::move(chunks[0]);
      chunks.clear();
      return out;  // its unused capacity was never touched, so it holds no memory

    }
  }
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(total));
  for (auto& c : chunks) {
    out.insert(out.end(), c.begin(), c.end());
    std::vector<S>().swap(c);
  }
  chunks.clear();
  return out;
}

void require_utf8(const std::string& text, const std::string& source, const char* field) {
  // Ids, domains and sources are stored as JSON text (.moet metadata, JSONL): a file or folder
  // name that is not UTF-8 (e.g. Latin-1) is reported here, not by the writer.
  if (!simdjson::validate_utf8(text.data(), text.size()))
    throw_bad_input(source, "", field,
                    "not valid UTF-8 (request ids, domains and sources come from file and folder "
                    "names; rename them or use --domain)");
}

}  // namespace

TraceBuilder::TraceBuilder(ImportOptions options) : options_(std::move(options)) {
  if (!simdjson::validate_utf8(options_.model_name.data(), options_.model_name.size()))
    throw_usage("--model-name is not valid UTF-8");
}

void TraceBuilder::begin_file(const ModelInfo& model, const std::string& source) {
  if (!simdjson::validate_utf8(model.name.data(), model.name.size()))
    throw_bad_input(source, "", "model", "model name is not valid UTF-8");
  file_experts_ = std::max(file_experts_, model.num_experts);
  if (!have_model_) {
    model_ = model;
    first_source_ = source;
    have_model_ = true;
    return;
  }
  if (model.moe_layer_ids != model_.moe_layer_ids)
    throw_bad_input(source, "", "moe layers", "MoE layers differ from those of " + first_source_);
  if (model.top_k != model_.top_k)
    throw_bad_input(source, "", "top_k",
                    "top-k " + std::to_string(model.top_k) + " differs from " +
                        std::to_string(model_.top_k) + " in " + first_source_);
  model_.num_layers = std::max(model_.num_layers, model.num_layers);
  if (model_.name.empty()) model_.name = model.name;
}

void TraceBuilder::widen() {
  for (auto& c : ids8_) {
    ids16_.emplace_back(c.begin(), c.end());
    std::vector<std::uint8_t>().swap(c);
  }
  ids8_.clear();
  width_ = 2;
}

void TraceBuilder::add(RequestRouting r) {
  if (!have_model_) throw Error(ErrorKind::internal, {r.source, "", ""}, "request before its file's model");
  require_utf8(r.id, r.source, "id");
  require_utf8(r.domain, r.source, "domain");
  require_utf8(r.source, r.source, "source");
  const std::uint64_t per = static_cast<std::uint64_t>(model_.moe_layers()) * static_cast<std::uint64_t>(model_.top_k);
  const std::uint64_t tokens = std::uint64_t{r.prefill_tokens} + r.decode_tokens;
  if (r.ids.size() != tokens * per || (!r.weights.empty() && r.weights.size() != r.ids.size()))
    throw_bad_input(r.source, "request " + r.id, "ids", "routing size does not match its token counts");
  if (requests_.empty()) {
    has_weights_ = !r.weights.empty();
  } else if (has_weights_ != !r.weights.empty()) {
    throw_bad_input(first_source_, "", "weights", "some requests have router weights and others not");
  }

  const std::string& label = options_.domain.empty() ? r.domain : options_.domain;
  auto [it, inserted] = domain_index_.emplace(label, static_cast<std::uint32_t>(domains_.size()));
  if (inserted) domains_.push_back(label);

  std::uint16_t request_max = 0;
  for (std::uint16_t id : r.ids) request_max = std::max(request_max, id);
  max_id_ = std::max<std::uint32_t>(max_id_, request_max);
  if (request_max > 255 && width_ == 1) widen();
  if (width_ == 1)
    append_chunked(ids8_, r.ids.data(), r.ids.size());
  else
    append_chunked(ids16_, r.ids.data(), r.ids.size());
  if (has_weights_) append_chunked(weights_, r.weights.data(), r.weights.size());
  total_ids_ += r.ids.size();

  Request q;
  q.id = std::move(r.id);
  q.domain = it->second;
  q.source = std::move(r.source);
  q.token_offset = tokens_;
  q.prefill_tokens = r.prefill_tokens;
  q.decode_tokens = r.decode_tokens;
  tokens_ += tokens;
  requests_.push_back(std::move(q));
  request_max_id_.push_back(request_max);
}

void TraceBuilder::add_file(ParsedFile file) {
  std::string source = !file.path.empty()          ? file.path
                       : file.requests.empty() ? std::string("(empty input)")
                                               : file.requests.front().source;
  begin_file(file.model, source);
  for (auto& r : file.requests) add(std::move(r));
}

std::uint16_t TraceBuilder::id_at(std::uint64_t index) const {
  const std::size_t c = static_cast<std::size_t>(index / kChunkIds), o = static_cast<std::size_t>(index % kChunkIds);
  return width_ == 1 ? ids8_[c][o] : ids16_[c][o];
}

void TraceBuilder::report_id_out_of_range(int experts) const {
  const std::uint64_t per = static_cast<std::uint64_t>(model_.moe_layers()) * static_cast<std::uint64_t>(model_.top_k);
  for (std::size_t i = 0; i < requests_.size(); ++i) {
    if (request_max_id_[i] < experts) continue;
    const Request& q = requests_[i];
    for (std::uint64_t j = 0; j < q.tokens() * per; ++j) {
      const std::uint16_t id = id_at(q.token_offset * per + j);
      if (id >= experts)
        throw_bad_input(q.source, "request " + q.id, "token " + std::to_string(j / std::max<std::uint64_t>(1, per)),
                        "expert id " + std::to_string(id) + " >= experts (" + std::to_string(experts) + ")");
    }
  }
  throw Error(ErrorKind::internal, {first_source_, "", ""}, "expert id out of range not found");
}

TraceSet TraceBuilder::finish() {
  if (requests_.empty())
    throw_bad_input(have_model_ ? first_source_ : std::string("(empty input)"), "", "", "no requests");
  const int experts = options_.num_experts > 0 ? options_.num_experts
                      : file_experts_ > 0      ? file_experts_
                                               : static_cast<int>(max_id_) + 1;
  if (max_id_ >= static_cast<std::uint32_t>(experts)) report_id_out_of_range(experts);

  TraceSet set;
  set.model = model_;
  set.model.num_experts = experts;
  if (!options_.model_name.empty()) set.model.name = options_.model_name;
  set.domains = std::move(domains_);
  set.requests = std::move(requests_);
  if (id_width_for(experts) == 1)
    set.ids = ExpertIds::owned(drain<std::uint8_t>(ids8_, total_ids_));
  else if (width_ == 1)
    set.ids = ExpertIds::owned(drain<std::uint16_t>(ids8_, total_ids_));
  else
    set.ids = ExpertIds::owned(drain<std::uint16_t>(ids16_, total_ids_));
  if (has_weights_) set.weights = drain<float>(weights_, total_ids_);
  set.check(first_source_);
  return set;
}

}  // namespace moeplan::trace
