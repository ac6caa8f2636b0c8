#include "dtype.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view short_name;
  std::string_view cuda_name;
  int bytes;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF16, "f16", "half", 2},
    {DType::kBF16, "bf16", "nv_bfloat16", 2},
    {DType::kF32, "f32", "float", 4},
    {DType::kE4M3, "e4m3", "__nv_fp8_e4m3", 1},
    {DType::kE5M2, "e5m2", "__nv_fp8_e5m2", 1},
    {DType::kI32, "i32", "int", 4},
    {DType::kE4M3FNUZ, "e4m3fnuz", "", 1},
    {DType::kE5M2FNUZ, "e5m2fnuz", "", 1},
};

// Other spellings, after lower-casing and dropping a "torch." / "numpy." / "np." prefix.
constexpr std::pair<std::string_view, DType> kAliases[] = {
    {"float16", DType::kF16},
    {"half", DType::kF16},
    {"fp16", DType::kF16},
    {"bfloat16", DType::kBF16},
    {"float32", DType::kF32},
    {"float", DType::kF32},
    {"fp32", DType::kF32},
    {"float8_e4m3fn", DType::kE4M3},
    {"float8_e4m3", DType::kE4M3},
    {"fp8_e4m3", DType::kE4M3},
    {"fp8_e4m3fn", DType::kE4M3},
    {"e4m3fn", DType::kE4M3},
    {"float8_e5m2", DType::kE5M2},
    {"fp8_e5m2", DType::kE5M2},
    {"int32", DType::kI32},
    {"float8_e4m3fnuz", DType::kE4M3FNUZ},
    {"fp8_e4m3fnuz", DType::kE4M3FNUZ},
    {"float8_e5m2fnuz", DType::kE5M2FNUZ},
    {"fp8_e5m2fnuz", DType::kE5M2FNUZ},
};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry;
  }
  throw Error(fmt::format("internal error: unknown DType value {}", static_cast<int>(dtype)));
}

std::string normalise(std::string_view text) {
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view prefix : {"torch.", "numpy.", "np.", "jnp."}) {
    if (lowered.rfind(prefix, 0) == 0) return lowered.substr(prefix.size());
  }
  return lowered;
}

}  // namespace

std::string_view short_name(DType dtype) { return info(dtype).short_name; }
std::string_view cuda_type_name(DType dtype) { return info(dtype).cuda_name; }
int size_in_bytes(DType dtype) { return info(dtype).bytes; }

bool is_fp8(DType dtype) {
  return dtype == DType::kE4M3 || dtype == DType::kE5M2 || dtype == DType::kE4M3FNUZ ||
         dtype == DType::kE5M2FNUZ;
}

std::string accepted_dtype_names() {
  std::string names;
  for (const auto& entry : kDTypes) {
    if (!names.empty()) names += ", ";
    names += entry.short_name;
  }
  return names;
}

DType parse_dtype(std::string_view text) {
  const std::string key = normalise(text);
  for (const auto& entry : kDTypes) {
    if (entry.short_name == key) return entry.dtype;
  }
  for (const auto& [alias, dtype] : kAliases) {
    if (alias == key) return dtype;
  }
  throw InvalidArgument(fmt::format(
      "unknown dtype '{}': accepted names are {} (and common spellings such as bfloat16, "
      "float16, half, float8_e4m3fn, fp8_e4m3, float8_e5m2, int32)",
      text, accepted_dtype_names()));
}

}  // namespace kjit
