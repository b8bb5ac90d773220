// Placement files: moeplan's JSON (docs/placement.md) and the engine formats (SGLang's
// --init-expert-location JSON, TensorRT-LLM's EPLB YAML), with errors naming file and field.
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/placement/placement.hpp"

namespace moeplan::placement {
namespace {

constexpr const char* kFormat = "moeplan-placement";
constexpr int kVersion = 1;
constexpr long long kMaxEntries = 1LL << 28;  // layers x slots: refuse absurd sizes before allocating

[[noreturn]] void bad(const std::string& what, const std::string& record, const std::string& field,
                      const std::string& msg) {
  throw Error(ErrorKind::bad_input, Location{what, record, field.empty() ? "" : "field \"" + field + "\""}, msg);
}

int get_int(const nlohmann::json& j, const char* key, const std::string& what, const std::string& record, int lo, int hi) {
  if (!j.is_object() || !j.contains(key)) bad(what, record, key, "missing");
  const auto& v = j.at(key);
  if (!v.is_number_integer()) bad(what, record, key, "expected an integer, got " + std::string(v.type_name()));
  const long long x = v.get<long long>();
  if (x < lo || x > hi)
    bad(what, record, key, std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

// Fills layer l of p from a JSON array of slot -> expert.
void read_row(const nlohmann::json& row, Placement& p, int l, const std::string& what, const char* field) {
  const std::string rec = "layer " + std::to_string(l);
  if (!row.is_array()) bad(what, rec, field, "expected an array of experts, got " + std::string(row.type_name()));
  if (row.size() != static_cast<std::size_t>(p.cluster.slots()))
    bad(what, rec, field, "holds " + std::to_string(row.size()) + " slots, expected " + std::to_string(p.cluster.slots()));
  auto dst = p.layer(l);
  for (std::size_t s = 0; s < row.size(); ++s) {
    const auto& v = row[s];
    if (!v.is_number_integer())
      bad(what, rec, std::string(field) + "[" + std::to_string(s) + "]", "expected an integer expert id, got " + std::string(v.type_name()));
    const long long e = v.get<long long>();
    if (e < -1 || e >= p.num_experts)
      bad(what, rec, std::string(field) + "[" + std::to_string(s) + "]",
          "expert " + std::to_string(e) + " is out of range [0, " + std::to_string(p.num_experts) + ") (-1 = empty)");
    dst[s] = static_cast<std::int32_t>(e);
  }
}

void check_size(const Cluster& c, int layers, const std::string& what) {
  if (static_cast<long long>(c.slots()) * layers > kMaxEntries)
    bad(what, "", "layers", "layers x slots = " + std::to_string(static_cast<long long>(c.slots()) * layers) + " exceeds the limit 2^28");
}

}  // namespace

nlohmann::json to_json(const Placement& p) {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["algorithm"] = p.algorithm;
  j["cluster"] = {{"nodes", p.cluster.nodes}, {"gpus_per_node", p.cluster.gpus_per_node}, {"slots_per_gpu", p.cluster.slots_per_gpu}};
  j["num_experts"] = p.num_experts;
  j["layers"] = p.layers;
  j["model_layers"] = p.model_layers;
  j["moe_layer_ids"] = p.moe_layer_ids;
  std::vector<int> slot_gpu(p.cluster.slots());
  for (int s = 0; s < p.cluster.slots(); ++s) slot_gpu[s] = p.cluster.gpu_of_slot(s);
  j["slot_gpu"] = slot_gpu;
  auto rows = nlohmann::json::array();
  for (int l = 0; l < p.layers; ++l) {
    auto r = p.layer(l);
    rows.push_back(std::vector<std::int32_t>(r.begin(), r.end()));
  }
  j["slot_expert"] = std::move(rows);
  j["provenance"] = p.provenance;
  return j;
}

Placement placement_from_json(const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) bad(what, "", "", "expected a JSON object (moeplan placement)");
  if (!j.contains("format") || j["format"] != kFormat) {
    if (j.contains("physical_to_logical_map"))
      bad(what, "", "format", "this is SGLang's expert-location JSON: import it with --from-sglang and the cluster flags");
    bad(what, "", "format", std::string("expected \"") + kFormat + "\"");
  }
  const int version = get_int(j, "version", what, "", 0, 1 << 20);
  if (version != kVersion) bad(what, "", "version", "version " + std::to_string(version) + " is not supported (this moeplan reads 1)");
  if (!j.contains("cluster")) bad(what, "", "cluster", "missing");
  Placement p;
  const auto& c = j["cluster"];
  p.cluster.nodes = get_int(c, "nodes", what, "cluster", 1, 1 << 20);
  p.cluster.gpus_per_node = get_int(c, "gpus_per_node", what, "cluster", 1, 1 << 20);
  p.cluster.slots_per_gpu = get_int(c, "slots_per_gpu", what, "cluster", 1, 1 << 20);
  if (static_cast<long long>(p.cluster.nodes) * p.cluster.gpus_per_node * p.cluster.slots_per_gpu > (1 << 24))
    bad(what, "", "cluster", "more than 2^24 slots per layer");
  p.num_experts = get_int(j, "num_experts", what, "", 1, 1 << 16);
  p.layers = get_int(j, "layers", what, "", 1, 1 << 16);
  check_size(p.cluster, p.layers, what);
  p.model_layers = j.contains("model_layers") ? get_int(j, "model_layers", what, "", 0, 1 << 16) : 0;
  if (j.contains("algorithm")) {
    if (!j["algorithm"].is_string()) bad(what, "", "algorithm", "expected a string");
    p.algorithm = j["algorithm"].get<std::string>();
  }
  if (j.contains("moe_layer_ids")) {
    const auto& ids = j["moe_layer_ids"];
    if (!ids.is_array() || ids.size() != static_cast<std::size_t>(p.layers))
      bad(what, "", "moe_layer_ids", "expected an array of " + std::to_string(p.layers) + " layer indices");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!ids[i].is_number_integer() || ids[i].get<long long>() < 0 || ids[i].get<long long>() > (1 << 16))
        bad(what, "", "moe_layer_ids[" + std::to_string(i) + "]", "expected a non-negative layer index");
      p.moe_layer_ids.push_back(ids[i].get<int>());
    }
  } else {
    for (int l = 0; l < p.layers; ++l) p.moe_layer_ids.push_back(l);
  }
  if (j.contains("slot_gpu")) {  // redundant with the cluster; checked so an edited file cannot disagree
    const auto& sg = j["slot_gpu"];
    if (!sg.is_array() || sg.size() != static_cast<std::size_t>(p.cluster.slots()))
      bad(what, "", "slot_gpu", "expected an array of " + std::to_string(p.cluster.slots()) + " GPU indices");
    for (int s = 0; s < p.cluster.slots(); ++s)
      if (!sg[s].is_number_integer() || sg[s].get<long long>() != p.cluster.gpu_of_slot(s))
        bad(what, "", "slot_gpu[" + std::to_string(s) + "]",
            "must be " + std::to_string(p.cluster.gpu_of_slot(s)) + " (slot / slots_per_gpu)");
  }
  if (!j.contains("slot_expert")) bad(what, "", "slot_expert", "missing");
  const auto& rows = j["slot_expert"];
  if (!rows.is_array() || rows.size() != static_cast<std::size_t>(p.layers))
    bad(what, "", "slot_expert", "expected an array of " + std::to_string(p.layers) + " layers");
  p.slot_expert.assign(static_cast<std::size_t>(p.layers) * p.cluster.slots(), -1);
  for (int l = 0; l < p.layers; ++l) read_row(rows[l], p, l, what, "slot_expert");
  if (j.contains("provenance")) p.provenance = j["provenance"];
  p.check(what);
  return p;
}

Placement read_placement(const std::string& path) {
  const std::vector<char> bytes = io::read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::parse_error& e) {
    bad(path, "byte " + std::to_string(e.byte), "", "not valid JSON");
  } catch (const nlohmann::json::exception&) {  // e.g. a number overflow such as 1e400
    bad(path, "", "", "not valid JSON (a number is out of range)");
  }
  return placement_from_json(j, path);
}

void write_placement(const std::string& path, const Placement& p) {
  const std::string text = to_json(p).dump(1) + "\n";
  io::write_atomic(path, [&](std::ostream& out) { out << text; });
}

// ---- SGLang ----

namespace {
// SGLang indexes every model layer; dense layers (no experts) get an identity row.
std::vector<int> export_rows(const Placement& p, int& total) {
  total = p.layers;
  for (int id : p.moe_layer_ids) total = std::max(total, id + 1);
  total = std::max(total, p.model_layers);
  std::vector<int> row_of(total, -1);
  for (int l = 0; l < p.layers; ++l) row_of[p.moe_layer_ids[l]] = l;
  return row_of;
}

void require_full(const Placement& p, const char* engine) {
  for (std::size_t i = 0; i < p.slot_expert.size(); ++i)
    if (p.slot_expert[i] < 0)
      throw Error(ErrorKind::infeasible, {},
                  std::string(engine) + " needs every slot filled, but layer " +
                      std::to_string(i / p.cluster.slots()) + " slot " + std::to_string(i % p.cluster.slots()) +
                      " is empty (fill spare slots with replicas: --replicate)");
}
}  // namespace

nlohmann::json to_sglang(const Placement& p) {
  require_full(p, "SGLang's --init-expert-location");
  int total = 0;
  const auto row_of = export_rows(p, total);
  auto rows = nlohmann::json::array();
  for (int L = 0; L < total; ++L) {
    std::vector<int> r(p.cluster.slots());
    if (row_of[L] >= 0) {
      auto src = p.layer(row_of[L]);
      r.assign(src.begin(), src.end());
    } else {
      for (int s = 0; s < p.cluster.slots(); ++s) r[s] = s % p.num_experts;
    }
    rows.push_back(std::move(r));
  }
  return {{"physical_to_logical_map", std::move(rows)}};
}

Placement from_sglang(const nlohmann::json& j, const Cluster& c, int num_experts, const std::string& what) {
  if (!j.is_object() || !j.contains("physical_to_logical_map")) bad(what, "", "physical_to_logical_map", "missing");
  const auto& rows = j["physical_to_logical_map"];
  if (!rows.is_array() || rows.empty()) bad(what, "", "physical_to_logical_map", "expected a non-empty array of layers");
  check_size(c, static_cast<int>(std::min<std::size_t>(rows.size(), 1 << 16)), what);
  Placement p = Placement::empty(c, num_experts, static_cast<int>(rows.size()), "sglang-import");
  p.model_layers = p.layers;
  for (int l = 0; l < p.layers; ++l) read_row(rows[l], p, l, what, "physical_to_logical_map");
  p.check(what);
  return p;
}

// ---- TensorRT-LLM ----

std::string to_trtllm_yaml(const Placement& p) {
  require_full(p, "TensorRT-LLM's EPLB config");
  std::ostringstream out;
  out << "# TensorRT-LLM MoE load balancer config, written by moeplan (" << p.algorithm << ")\n";
  out << "num_slots: " << p.cluster.slots() << "\n";
  out << "initial_global_assignments:\n";
  for (int l = 0; l < p.layers; ++l) {
    out << "  " << p.moe_layer_ids[l] << ": [";
    auto r = p.layer(l);
    for (std::size_t s = 0; s < r.size(); ++s) out << (s ? ", " : "") << r[s];
    out << "]\n";
  }
  return out.str();
}

Placement from_trtllm_yaml(const std::string& text, const Cluster& c, int num_experts, const std::string& what) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    bad(what, "line " + std::to_string(e.mark.line + 1), "", "not valid YAML");
  }
  if (!root.IsMap()) bad(what, "", "", "expected a YAML mapping");
  try {
    if (!root["num_slots"]) bad(what, "", "num_slots", "missing");
    const long long slots = root["num_slots"].as<long long>();
    if (slots != c.slots())
      bad(what, "", "num_slots", std::to_string(slots) + " does not match the cluster's " + std::to_string(c.slots()) + " slots");
    const YAML::Node a = root["initial_global_assignments"];
    if (!a || !a.IsMap() || a.size() == 0) bad(what, "", "initial_global_assignments", "expected a mapping layer -> slots");
    check_size(c, static_cast<int>(std::min<std::size_t>(a.size(), 1 << 16)), what);
    std::vector<std::pair<int, YAML::Node>> layers;
    for (const auto& kv : a) {
      const long long id = kv.first.as<long long>();
      if (id < 0 || id > (1 << 16)) bad(what, "", "initial_global_assignments", "layer key " + std::to_string(id) + " is out of range");
      layers.emplace_back(static_cast<int>(id), kv.second);
    }
    std::sort(layers.begin(), layers.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    Placement p = Placement::empty(c, num_experts, static_cast<int>(layers.size()), "trtllm-import");
    for (int l = 0; l < p.layers; ++l) {
      p.moe_layer_ids[l] = layers[l].first;
      if (l > 0 && layers[l].first == layers[l - 1].first)
        bad(what, "layer " + std::to_string(layers[l].first), "initial_global_assignments", "duplicate layer");
      const YAML::Node& row = layers[l].second;
      const std::string rec = "layer " + std::to_string(layers[l].first);
      if (!row.IsSequence() || row.size() != static_cast<std::size_t>(c.slots()))
        bad(what, rec, "initial_global_assignments", "expected a list of " + std::to_string(c.slots()) + " experts");
      auto dst = p.layer(l);
      for (int s = 0; s < c.slots(); ++s) {
        const long long e = row[s].as<long long>();
        if (e < 0 || e >= num_experts)
          bad(what, rec, "slot " + std::to_string(s), "expert " + std::to_string(e) + " is out of range [0, " + std::to_string(num_experts) + ")");
        dst[s] = static_cast<std::int32_t>(e);
      }
    }
    p.check(what);
    return p;
  } catch (const YAML::Exception& e) {
    bad(what, "line " + std::to_string(e.mark.line + 1), "", std::string("wrong type: ") + e.msg);
  }
}

}  // namespace moeplan::placement
