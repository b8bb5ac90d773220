#include "moeplan/perf/dtype.hpp"

#include <algorithm>
#include <cctype>

namespace moeplan::perf {

double dtype_bytes(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::bf16:
    case DType::fp16: return 2;
    case DType::fp8:
    case DType::int8: return 1;
    case DType::int4:
    case DType::fp4: return 0.5;
  }
  return 2;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::fp16: return "fp16";
    case DType::fp8: return "fp8";
    case DType::int8: return "int8";
    case DType::int4: return "int4";
    case DType::fp4: return "fp4";
  }
  return "?";
}

std::optional<DType> parse_dtype(const std::string& s) {
  std::string v = s;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "bf16" || v == "bfloat16") return DType::bf16;
  if (v == "fp16" || v == "float16" || v == "half") return DType::fp16;
  if (v == "f32" || v == "fp32" || v == "float32" || v == "float") return DType::f32;
  if (v == "fp8" || v == "e4m3" || v == "float8_e4m3fn" || v == "float8" || v == "e5m2") return DType::fp8;
  if (v == "int8" || v == "w8a8") return DType::int8;
  if (v == "int4" || v == "w4a16" || v == "awq" || v == "gptq") return DType::int4;
  if (v == "fp4" || v == "nvfp4" || v == "mxfp4") return DType::fp4;
  return std::nullopt;
}

}  // namespace moeplan::perf
