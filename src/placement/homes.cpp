// Request homes: round-robin default and the homes file (docs/traffic.md "Homes file").
#include <string>
#include <unordered_map>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/placement/traffic.hpp"

namespace moeplan::placement {

Homes round_robin_homes(const trace::TraceSet& set, const Cluster& c) {
  Homes homes(set.requests.size());
  const int g = c.gpus();
  if (g <= 0) throw Error(ErrorKind::usage, {}, "round-robin homes need at least one GPU");
  for (std::size_t i = 0; i < homes.size(); ++i) homes[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(g));
  return homes;
}

namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// The GPU of one entry: an integer in [0, gpus).
std::int32_t gpu_value(const nlohmann::json& v, const std::string& what, const std::string& field, int gpus) {
  if (!v.is_number_integer())
    throw_bad_input(what, "", field,
                    "expected an integer GPU index, got " + (v.is_primitive() ? v.dump() : std::string(v.type_name())));
  const bool neg = v.is_number_unsigned() ? false : v.get<std::int64_t>() < 0;
  const std::uint64_t u = neg ? 0 : v.get<std::uint64_t>();
  if (neg || u >= static_cast<std::uint64_t>(gpus))
    throw_bad_input(what, "", field,
                    "GPU " + v.dump() + " out of range (the cluster has " + std::to_string(gpus) + " GPUs, 0.." +
                        std::to_string(gpus - 1) + ")");
  return static_cast<std::int32_t>(u);
}

}  // namespace

Homes parse_homes(std::string_view text, const std::string& what, const trace::TraceSet& set, const Cluster& c) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    throw_bad_input(what, "", "", std::string("not valid JSON (") + e.what() + ")");
  } catch (const nlohmann::json::exception&) {  // e.g. a number overflow such as 1e400
    throw_bad_input(what, "", "", "not valid JSON (a number is out of range)");
  }
  if (!j.is_object()) throw_bad_input(what, "", "", std::string("expected a JSON object, got ") + j.type_name());
  auto it = j.find("homes");
  if (it == j.end()) throw_bad_input(what, "", "field \"homes\"", "missing");
  const nlohmann::json& h = *it;

  std::unordered_map<std::string, std::size_t> index;
  index.reserve(set.requests.size());
  for (std::size_t i = 0; i < set.requests.size(); ++i) index.emplace(set.requests[i].id, i);
  constexpr std::int32_t unset = -1;
  Homes homes(set.requests.size(), unset);
  const int gpus = c.gpus();

  auto assign = [&](const std::string& id, const nlohmann::json& gpu, const std::string& id_field,
                    const std::string& gpu_field) {
    auto f = index.find(id);
    if (f == index.end()) throw_bad_input(what, "", id_field, "unknown request id " + quoted(id) + " (not in the trace)");
    if (homes[f->second] != unset) throw_bad_input(what, "", id_field, "request " + quoted(id) + " has two homes");
    homes[f->second] = gpu_value(gpu, what, gpu_field, gpus);
  };

  if (h.is_object()) {
    for (auto e = h.begin(); e != h.end(); ++e) {
      const std::string field = "field \"homes." + e.key() + "\"";
      assign(e.key(), e.value(), field, field);
    }
  } else if (h.is_array()) {
    for (std::size_t i = 0; i < h.size(); ++i) {
      const std::string at = "field \"homes[" + std::to_string(i) + "]";
      const nlohmann::json& e = h[i];
      if (!e.is_object()) throw_bad_input(what, "", at + "\"", std::string("expected an object, got ") + e.type_name());
      auto req = e.find("request");
      if (req == e.end()) throw_bad_input(what, "", at + ".request\"", "missing");
      std::string id;
      if (req->is_string()) id = req->get<std::string>();
      else if (req->is_number_integer()) id = req->dump();
      else throw_bad_input(what, "", at + ".request\"", std::string("expected a string or integer request id, got ") + req->type_name());
      auto gpu = e.find("gpu");
      if (gpu == e.end()) throw_bad_input(what, "", at + ".gpu\"", "missing");
      assign(id, *gpu, at + ".request\"", at + ".gpu\"");
    }
  } else {
    throw_bad_input(what, "", "field \"homes\"", std::string("expected an object or a list, got ") + h.type_name());
  }

  std::size_t missing = 0, first = 0;
  for (std::size_t i = 0; i < homes.size(); ++i)
    if (homes[i] == unset && missing++ == 0) first = i;
  if (missing)
    throw_bad_input(what, "", "field \"homes\"",
                    "no home for request " + quoted(set.requests[first].id) +
                        (missing > 1 ? " and " + std::to_string(missing - 1) + " more" : std::string()) +
                        " (every request of the trace needs one)");
  return homes;
}

Homes read_homes(const std::string& path, const trace::TraceSet& set, const Cluster& c) {
  std::vector<char> bytes = io::read_file(path);
  return parse_homes(std::string_view(bytes.data(), bytes.size()), path, set, c);
}

}  // namespace moeplan::placement
