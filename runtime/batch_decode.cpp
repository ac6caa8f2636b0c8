#include "batch_decode.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {

void launch_batch_decode(const Kernel& kernel, const BatchDecodeParams& params, CUstream stream) {
  if (params.batch_size <= 0 || params.num_qo_heads <= 0 || params.num_kv_heads <= 0 ||
      params.page_size <= 0) {
    throw InvalidArgument(fmt::format(
        "batch_size ({}), num_qo_heads ({}), num_kv_heads ({}) and page_size ({}) must be positive",
        params.batch_size, params.num_qo_heads, params.num_kv_heads, params.page_size));
  }
  if (params.num_qo_heads % params.num_kv_heads != 0) {
    throw InvalidArgument(fmt::format("num_qo_heads ({}) must be a multiple of num_kv_heads ({})",
                                      params.num_qo_heads, params.num_kv_heads));
  }
  if (params.batch_size > 65535) {
    throw InvalidArgument(fmt::format("batch_size {} exceeds 65535", params.batch_size));
  }
  if (!params.q || !params.k || !params.v || !params.o || !params.kv_indptr || !params.kv_indices ||
      !params.kv_last_page_len) {
    throw InvalidArgument("q, k, v, o, kv_indptr, kv_indices and kv_last_page_len are required");
  }
  // Sinks are never silently ignored, nor silently absent.
  if (kernel.spec().use_sinks && params.sinks == nullptr) {
    throw InvalidArgument(
        fmt::format("{} uses attention sinks but no sinks were given", kernel.uri()));
  }
  if (!kernel.spec().use_sinks && params.sinks != nullptr) {
    throw InvalidArgument(fmt::format(
        "sinks were given but {} has no attention sinks: request the kernel with use_sinks",
        kernel.uri()));
  }
  const CudaDriver& cu = cuda_driver();
  CUfunction function = kernel.function();
  void* arguments[] = {const_cast<BatchDecodeParams*>(&params)};
  KJIT_CUDA_CHECK(cu.cuLaunchKernel(function, static_cast<unsigned>(params.num_qo_heads),
                                    static_cast<unsigned>(params.batch_size), 1,
                                    kBatchDecodeThreads, 1, 1, 0, stream, arguments, nullptr));
}

}  // namespace kjit
