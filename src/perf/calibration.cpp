// Calibration files: read, look up and write (the fit itself is in validate_silicon.cpp).
#include "moeplan/perf/calibration.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>

#include "moeplan/io/error.hpp"
#include "moeplan/io/file.hpp"
#include "moeplan/perf/zoo.hpp"

namespace moeplan::perf {

const Calibration* CalibrationSet::find(const std::string& backend, const std::string& precision, const std::string& hardware) const {
  const Calibration *exact = nullptr, *any_hw = nullptr, *other = nullptr;
  for (const Calibration& c : entries) {
    if (c.backend != backend) continue;
    if (!c.hardware.empty() && c.hardware != hardware) continue;
    if (c.precision == precision) {
      if (!c.hardware.empty() && !exact) exact = &c;
      if (c.hardware.empty() && !any_hw) any_hw = &c;
    } else if (!other) {
      other = &c;
    }
  }
  return exact ? exact : any_hw ? any_hw : other;
}

namespace {

double num(const YAML::Node& n, const std::string& file, const std::string& field, double lo, double hi) {
  if (!n) throw_bad_input(file, "", field, "missing");
  double v = 0;
  try {
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    throw_bad_input(file, "", field, "expected a number");
  }
  if (!std::isfinite(v) || v < lo || v > hi) throw_bad_input(file, "", field, fmt::format("{} is outside [{}, {}]", v, lo, hi));
  return v;
}

}  // namespace

CalibrationSet parse_calibration_yaml(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw_bad_input(file, fmt::format("line {}", e.mark.line + 1), "", "not valid YAML: " + e.msg);
  }
  YAML::Node list = root.IsMap() ? root["calibrations"] : YAML::Node();
  if (!list || !list.IsSequence()) throw_bad_input(file, "", "calibrations", "missing (expected a list)");
  CalibrationSet set;
  set.source = file;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& e = list[i];
    std::string at = fmt::format("calibrations[{}]", i);
    if (!e.IsMap()) throw_bad_input(file, "", at, "expected a map");
    Calibration c;
    try {
      c.backend = e["backend"].as<std::string>();
      c.precision = e["precision"].as<std::string>();
    } catch (const YAML::Exception&) {
      throw_bad_input(file, "", at, "backend and precision must be strings");
    }
    if (c.backend.empty() || c.precision.empty()) throw_bad_input(file, "", at, "backend and precision must not be empty");
    if (c.precision != "bf16" && c.precision != "fp8")
      throw_bad_input(file, "", at + ".precision", "\"" + c.precision + "\" is not bf16 or fp8 (4-bit weights use the bf16 entry)");
    if (e["hardware"]) {
      try {
        c.hardware = e["hardware"].as<std::string>();
      } catch (const YAML::Exception&) {
        throw_bad_input(file, "", at + ".hardware", "must be a string");
      }
    }
    // A second entry for the same key would never be found: refuse it rather than ignore it.
    for (const Calibration& prev : set.entries)
      if (prev.backend == c.backend && prev.precision == c.precision && prev.hardware == c.hardware)
        throw_bad_input(file, "", at, fmt::format("duplicate entry for backend {} precision {}{}", c.backend, c.precision,
                                                  c.hardware.empty() ? "" : " hardware " + c.hardware));
    c.fitted_rows = static_cast<int>(num(e["fitted_rows"], file, at + ".fitted_rows", 0, 1e9));
    const YAML::Node& f = e["efficiency"];
    const YAML::Node& s = e["serving"];
    // A missing key gives an invalid node, on which yaml-cpp's IsMap() throws: test it first.
    if (!f || !s || !f.IsMap() || !s.IsMap()) throw_bad_input(file, "", at, "needs efficiency and serving maps");
    Efficiency& x = c.efficiency;
    x = Efficiency::defaults();
    x.gemm = num(f["gemm"], file, at + ".efficiency.gemm", 0.01, 1);
    // Optional (files written before it existed lack it: the defaults' ramp applies).
    if (f["gemm_m_half"]) x.gemm_m_half = num(f["gemm_m_half"], file, at + ".efficiency.gemm_m_half", 0, 1e5);
    x.attention = num(f["attention"], file, at + ".efficiency.attention", 0.01, 1);
    x.mem_bw = num(f["mem_bw"], file, at + ".efficiency.mem_bw", 0.01, 1.5);
    x.comm_bw = num(f["comm_bw"], file, at + ".efficiency.comm_bw", 0.01, 1.5);
    x.kernel_overhead_s = num(f["kernel_overhead_s"], file, at + ".efficiency.kernel_overhead_s", 0, 1e-3);
    x.step_overhead_s = num(f["step_overhead_s"], file, at + ".efficiency.step_overhead_s", 0, 1);
    if (f["comm_hop_overhead_s"])
      x.comm_hop_overhead_s = num(f["comm_hop_overhead_s"], file, at + ".efficiency.comm_hop_overhead_s", 0, 1e-2);
    if (f["comm_large_bytes"]) x.comm_large_bytes = num(f["comm_large_bytes"], file, at + ".efficiency.comm_large_bytes", 0, 1e12);
    if (f["comm_bw_large"]) x.comm_bw_large = num(f["comm_bw_large"], file, at + ".efficiency.comm_bw_large", 0.01, 1.5);
    if (f["elementwise_factor"]) x.elementwise_factor = num(f["elementwise_factor"], file, at + ".efficiency.elementwise_factor", 0, 1e3);
    if (f["seq_overhead_s"]) x.seq_overhead_s = num(f["seq_overhead_s"], file, at + ".efficiency.seq_overhead_s", 0, 1e-2);
    // Optional (files written before it existed lack it: decode pays kernel_overhead_s).
    x.decode_kernel_overhead_s = f["decode_kernel_overhead_s"]
                                     ? num(f["decode_kernel_overhead_s"], file, at + ".efficiency.decode_kernel_overhead_s", 0, 1e-3)
                                     : -1;
    ServingParams& p = c.serving;
    p.max_num_tokens = num(s["max_num_tokens"], file, at + ".serving.max_num_tokens", 1, 1e7);
    p.kv_memory_fraction = num(s["kv_memory_fraction"], file, at + ".serving.kv_memory_fraction", 0.01, 1);
    p.ttft_factor = num(s["ttft_factor"], file, at + ".serving.ttft_factor", 0, 1e3);
    p.ttft_factor_log2c = num(s["ttft_factor_log2c"], file, at + ".serving.ttft_factor_log2c", -1e3, 1e3);
    // Optional (files written before it existed lack it).
    if (s["ttft_factor_per_request"])
      p.ttft_factor_per_request = num(s["ttft_factor_per_request"], file, at + ".serving.ttft_factor_per_request", 0, 1e3);
    set.entries.push_back(std::move(c));
  }
  return set;
}

CalibrationSet load_calibration(const std::string& path) {
  std::vector<char> bytes = io::read_file(path);
  return parse_calibration_yaml(std::string(bytes.begin(), bytes.end()), path);
}

std::string default_calibration_path() {
  return (std::filesystem::path(zoo_dir()).parent_path() / "calibration" / "silicon-dense.yaml").string();
}

std::string splitwise_calibration_path() {
  return (std::filesystem::path(zoo_dir()).parent_path() / "calibration" / "splitwise-2024.yaml").string();
}

std::string calibration_yaml(const CalibrationSet& set, const std::string& header_comment) {
  std::string out = header_comment + "calibrations:\n";
  for (const Calibration& c : set.entries) {
    const Efficiency& x = c.efficiency;
    const ServingParams& p = c.serving;
    out += fmt::format(
        "  - backend: {}\n    precision: {}\n{}    fitted_rows: {}\n    efficiency:\n"
        "      gemm: {:.4g}\n      gemm_m_half: {:.4g}\n      attention: {:.4g}\n      mem_bw: {:.4g}\n      comm_bw: {:.4g}\n"
        "      kernel_overhead_s: {:.4g}\n      decode_kernel_overhead_s: {:.4g}\n      step_overhead_s: {:.4g}\n      seq_overhead_s: {:.4g}\n"
        "      comm_hop_overhead_s: {:.4g}\n      comm_large_bytes: {:.4g}\n      comm_bw_large: {:.4g}\n      elementwise_factor: {:.4g}\n    serving:\n"
        "      max_num_tokens: {:.0f}\n      kv_memory_fraction: {:.4g}\n      ttft_factor: {:.4g}\n"
        "      ttft_factor_log2c: {:.4g}\n      ttft_factor_per_request: {:.4g}\n",
        c.backend, c.precision, c.hardware.empty() ? std::string() : "    hardware: " + c.hardware + "\n", c.fitted_rows, x.gemm, x.gemm_m_half, x.attention, x.mem_bw, x.comm_bw, x.kernel_overhead_s,
        x.decode_kernel_overhead_s < 0 ? x.kernel_overhead_s : x.decode_kernel_overhead_s, x.step_overhead_s, x.seq_overhead_s, x.comm_hop_overhead_s, x.comm_large_bytes, x.comm_bw_large, x.elementwise_factor, p.max_num_tokens, p.kv_memory_fraction, p.ttft_factor, p.ttft_factor_log2c,
        p.ttft_factor_per_request);
  }
  return out;
}

}  // namespace moeplan::perf
