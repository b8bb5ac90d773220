// moeplan::perf — numeric formats of weights, activations and the KV cache.
// Owns: the DType list, bytes per element, and parsing of user / config spellings.
#pragma once

#include <optional>
#include <string>

namespace moeplan::perf {

enum class DType { f32, bf16, fp16, fp8, int8, int4, fp4 };

// Storage bytes per element. 4-bit formats count 0.5 B; their block scales (1 byte per
// 16-32 elements) are left out, which undercounts them by 3-6%.
double dtype_bytes(DType t);
const char* dtype_name(DType t);

// Accepts bf16, bfloat16, fp16, float16, half, f32, float32, fp8, e4m3, float8_e4m3fn,
// int8, int4, fp4, nvfp4, mxfp4 (case-insensitive). Empty optional when unknown.
std::optional<DType> parse_dtype(const std::string& s);

}  // namespace moeplan::perf
