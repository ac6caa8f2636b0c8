#include "guard.hpp"

#include <algorithm>
#include <initializer_list>

#include <fmt/format.h>

namespace kjit {
namespace {

bool one_of(DType dtype, const std::initializer_list<DType>& allowed) {
  return std::find(allowed.begin(), allowed.end(), dtype) != allowed.end();
}

std::string names(const std::initializer_list<DType>& dtypes) {
  std::string out;
  for (DType dtype : dtypes) {
    if (!out.empty()) out += ", ";
    out += short_name(dtype);
  }
  return out;
}

// ROCm's FP8 formats have no CUDA type: say so instead of just "unsupported".
std::string rocm_note(DType dtype) {
  if (dtype == DType::kE4M3FNUZ || dtype == DType::kE5M2FNUZ) {
    return fmt::format(" ({} is a ROCm FP8 format with no CUDA type; use e4m3 or e5m2)",
                       short_name(dtype));
  }
  return "";
}

GuardResult reject(GuardCode code, std::string message) { return {code, std::move(message)}; }

}  // namespace

const char* guard_code_name(GuardCode code) {
  switch (code) {
    case GuardCode::kOk:
      return "ok";
    case GuardCode::kUnknownFamily:
      return "unknown_family";
    case GuardCode::kUnsupportedQueryDType:
      return "unsupported_dtype_q";
    case GuardCode::kUnsupportedKVDType:
      return "unsupported_dtype_kv";
    case GuardCode::kUnsupportedOutputDType:
      return "unsupported_dtype_o";
    case GuardCode::kUnsupportedIndexDType:
      return "unsupported_dtype_idx";
    case GuardCode::kUnsupportedHeadDim:
      return "unsupported_head_dim";
    case GuardCode::kUnsupportedArch:
      return "unsupported_arch";
  }
  return "unknown";
}

GuardResult validate(const KernelSpec& spec) {
  if (spec.family != kBatchDecodeFamily) {
    return reject(GuardCode::kUnknownFamily,
                  fmt::format("unknown kernel family '{}': supported families are {}", spec.family,
                              kBatchDecodeFamily));
  }

  const auto kQueryDTypes = {DType::kF16, DType::kBF16};
  if (!one_of(spec.dtype_q, kQueryDTypes)) {
    const char* what = is_fp8(spec.dtype_q) ? "FP8 queries are not supported" : "unsupported";
    return reject(
        GuardCode::kUnsupportedQueryDType,
        fmt::format("dtype_q={}: {}{}; supported query dtypes are {}", short_name(spec.dtype_q),
                    what, rocm_note(spec.dtype_q), names(kQueryDTypes)));
  }

  // Sinks need the sink kernel's KV loader; it exists for 16-bit KV and E4M3 only.
  const auto kKVDTypesWithSinks = {DType::kBF16, DType::kF16, DType::kE4M3};
  const auto kKVDTypes = {DType::kBF16, DType::kF16, DType::kE4M3, DType::kE5M2};
  if (spec.use_sinks && !one_of(spec.dtype_kv, kKVDTypesWithSinks)) {
    return reject(GuardCode::kUnsupportedKVDType,
                  fmt::format("dtype_kv={} is not supported with attention sinks{}; supported KV "
                              "dtypes with sinks are {}",
                              short_name(spec.dtype_kv), rocm_note(spec.dtype_kv),
                              names(kKVDTypesWithSinks)));
  }
  if (!one_of(spec.dtype_kv, kKVDTypes)) {
    return reject(
        GuardCode::kUnsupportedKVDType,
        fmt::format("dtype_kv={} is not supported{}; supported KV dtypes are {}",
                    short_name(spec.dtype_kv), rocm_note(spec.dtype_kv), names(kKVDTypes)));
  }

  const auto kOutputDTypes = {DType::kF16, DType::kBF16};
  if (!one_of(spec.output_dtype(), kOutputDTypes)) {
    return reject(GuardCode::kUnsupportedOutputDType,
                  fmt::format("dtype_o={} is not supported{}; supported output dtypes are {}",
                              short_name(spec.output_dtype()), rocm_note(spec.output_dtype()),
                              names(kOutputDTypes)));
  }
  if (spec.dtype_idx != DType::kI32) {
    return reject(GuardCode::kUnsupportedIndexDType,
                  fmt::format("dtype_idx={} is not supported; the page table must be i32",
                              short_name(spec.dtype_idx)));
  }
  if (spec.head_dim != 64 && spec.head_dim != 128 && spec.head_dim != 256) {
    return reject(GuardCode::kUnsupportedHeadDim,
                  fmt::format("head_dim={} is not supported; supported head dims are 64, 128, 256",
                              spec.head_dim));
  }
  return {};
}

GuardResult validate_target(const KernelSpec& spec, const GpuArch& arch) {
  // The decode kernels are built on mma.sync m16n8k16 with bf16 operands and on cp.async, both
  // sm_80 features: older targets would otherwise fail inside ptxas with a page of PTX errors.
  // (FP8 KV below sm_89 compiles too: cuda_fp8.h converts in software there, slower but exact.)
  constexpr int kMinimumArch = 80;
  if (arch.number() < kMinimumArch) {
    return reject(GuardCode::kUnsupportedArch,
                  fmt::format("{} kernels need sm_{} or newer (tensor-core mma.sync m16n8k16 and "
                              "cp.async); got {}",
                              spec.family, kMinimumArch, arch.name()));
  }
  return {};
}

void require_supported(const KernelSpec& spec) {
  GuardResult result = validate(spec);
  if (!result.ok()) throw GuardError(result.code, result.message);
}

void require_supported(const KernelSpec& spec, const GpuArch& arch) {
  require_supported(spec);
  GuardResult result = validate_target(spec, arch);
  if (!result.ok()) throw GuardError(result.code, result.message);
}

}  // namespace kjit
