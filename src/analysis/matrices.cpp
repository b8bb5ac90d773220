#include "moeplan/analysis/matrices.hpp"

#include <filesystem>
#include <functional>
#include <ostream>

#include "moeplan/analysis/coactivation.hpp"
#include "moeplan/analysis/coverage.hpp"
#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"

namespace moeplan::analysis {
namespace {

int checked_layer(int l, int layers, const char* option) {
  if (l < 0 || l >= layers)
    throw Error(ErrorKind::usage, {},
                std::string(option) + ": layer position " + std::to_string(l) +
                    " is out of range (positions 0.." + std::to_string(layers - 1) + ")");
  return l;
}

// Rows of an E x E row-major matrix as JSON arrays.
nlohmann::ordered_json square_json(const std::vector<std::uint64_t>& m, int n) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (int a = 0; a < n; ++a)
    rows.push_back(std::vector<std::uint64_t>(m.begin() + static_cast<std::ptrdiff_t>(a) * n,
                                              m.begin() + static_cast<std::ptrdiff_t>(a + 1) * n));
  return rows;
}

// CSV with a header row `<corner>,0,1,...,E-1` and one row per expert `a,counts...`.
void write_square_csv(std::ostream& out, const std::vector<std::uint64_t>& m, int n, const char* corner) {
  out << corner;
  for (int b = 0; b < n; ++b) out << ',' << b;
  out << '\n';
  for (int a = 0; a < n; ++a) {
    out << a;
    for (int b = 0; b < n; ++b) out << ',' << m[static_cast<std::size_t>(a) * n + b];
    out << '\n';
  }
}

}  // namespace

void check_matrix_options(const MatrixOptions& options, int moe_layers) {
  const int L = moe_layers;
  if (options.from_layer || options.to_layer || L > 1) {
    const int from = checked_layer(options.from_layer.value_or(0), L, "--transition");
    const int to = checked_layer(options.to_layer.value_or(1), L, "--transition");
    if (from == to) throw Error(ErrorKind::usage, {}, "--transition: the two layers must differ");
  }
  checked_layer(options.coactivation_layer, L, "--coactivation-layer");
}

Matrices compute_matrices(const trace::TraceSet& set, const PhaseLoads& loads, const MatrixOptions& options) {
  const int L = set.model.moe_layers(), E = set.model.num_experts;
  check_matrix_options(options, L);
  Matrices m;
  m.experts = E;
  m.moe_layer_ids = set.model.moe_layer_ids;
  m.loads = loads;
  m.has_phase[0] = loads.prefill.total() > 0;
  m.has_phase[1] = loads.decode.total() > 0;
  m.has_phase[2] = m.has_phase[0] || m.has_phase[1];
  if (options.from_layer || options.to_layer || L > 1) {
    m.from_layer = options.from_layer.value_or(0), m.to_layer = options.to_layer.value_or(1);
    m.transition.assign(static_cast<std::size_t>(E) * E, 0);
    add_layer_transitions(set, *m.from_layer, *m.to_layer, m.transition);
  }
  const int c = options.coactivation_layer;
  if (set.model.top_k > 1) {
    const std::vector<std::uint64_t> pairs = count_pairs(set, c);
    m.coactivation_layer = c;
    m.coactivation.assign(static_cast<std::size_t>(E) * E, 0);
    for (int a = 0; a < E; ++a)
      for (int b = a + 1; b < E; ++b)
        m.coactivation[static_cast<std::size_t>(a) * E + b] = m.coactivation[static_cast<std::size_t>(b) * E + a] =
            pairs[pair_index(E, a, b)];
  }
  return m;
}

nlohmann::ordered_json to_json(const Matrices& m) {
  nlohmann::ordered_json j;
  j["moe_layer_ids"] = m.moe_layer_ids;
  nlohmann::ordered_json load = nlohmann::ordered_json::object();
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all}) {
    if (!m.has_phase[static_cast<int>(p)]) continue;
    const LoadMatrix& x = m.loads[p];
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (int l = 0; l < x.layers; ++l) {
      auto row = x.layer(l);
      rows.push_back(std::vector<std::uint64_t>(row.begin(), row.end()));
    }
    load[phase_sel_name(p)] = rows;
  }
  j["load"] = load;
  if (m.from_layer)
    j["transition"] = {{"from_layer", *m.from_layer}, {"to_layer", *m.to_layer},
                       {"counts", square_json(m.transition, m.experts)}};
  if (m.coactivation_layer)
    j["coactivation"] = {{"layer", *m.coactivation_layer}, {"counts", square_json(m.coactivation, m.experts)}};
  return j;
}

std::vector<std::string> write_matrices_csv(const Matrices& m, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::io, {}, "cannot create " + dir + ": " + ec.message());
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::function<void(std::ostream&)>& body) {
    const std::string path = (std::filesystem::path(dir) / name).string();
    io::write_atomic(path, body);
    written.push_back(path);
  };
  for (PhaseSel p : {PhaseSel::prefill, PhaseSel::decode, PhaseSel::all}) {
    if (!m.has_phase[static_cast<int>(p)]) continue;
    const LoadMatrix& x = m.loads[p];
    write(std::string("load_") + phase_sel_name(p) + ".csv", [&](std::ostream& out) {
      // One row per MoE layer: its position, its model layer id, then one count per expert.
      out << "layer,model_layer";
      for (int e = 0; e < x.experts; ++e) out << ',' << e;
      out << '\n';
      for (int l = 0; l < x.layers; ++l) {
        out << l << ',' << m.moe_layer_ids[static_cast<std::size_t>(l)];
        for (auto v : x.layer(l)) out << ',' << v;
        out << '\n';
      }
    });
  }
  if (m.from_layer)
    write("transition_" + std::to_string(*m.from_layer) + "_" + std::to_string(*m.to_layer) + ".csv",
          [&](std::ostream& out) { write_square_csv(out, m.transition, m.experts, "from\\to"); });
  if (m.coactivation_layer)
    write("coactivation_" + std::to_string(*m.coactivation_layer) + ".csv",
          [&](std::ostream& out) { write_square_csv(out, m.coactivation, m.experts, "expert"); });
  return written;
}

}  // namespace moeplan::analysis
