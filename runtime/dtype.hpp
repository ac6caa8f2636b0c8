// Element types kjit kernels read and write, with their short names and CUDA spellings.
#pragma once

#include <string>
#include <string_view>

namespace kjit {

enum class DType {
  kF16,
  kBF16,
  kF32,
  kE4M3,  // FP8 E4M3 (OCP "fn" variant: no infinities), CUDA __nv_fp8_e4m3
  kE5M2,  // FP8 E5M2, CUDA __nv_fp8_e5m2
  kI32,
  // ROCm's FP8 formats: recognised so the guard can say why they are refused, never compiled.
  kE4M3FNUZ,
  kE5M2FNUZ,
};

// Short name used in URIs and the CLI: "f16", "bf16", "f32", "e4m3", "e5m2", "i32", ...
std::string_view short_name(DType dtype);

// CUDA C++ type name, e.g. "nv_bfloat16". Empty for the ROCm-only formats.
std::string_view cuda_type_name(DType dtype);

// Bytes per element.
int size_in_bytes(DType dtype);

bool is_fp8(DType dtype);

// Parses the spellings users type: "bf16", "bfloat16", "torch.bfloat16", "float8_e4m3fn",
// "fp8_e4m3", "half", ... (case-insensitive). Throws InvalidArgument listing accepted names.
DType parse_dtype(std::string_view text);

// Comma-separated list of the short names, for error messages.
std::string accepted_dtype_names();

}  // namespace kjit
