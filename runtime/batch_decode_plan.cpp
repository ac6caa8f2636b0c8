#include "batch_decode_plan.hpp"

#include <cstdint>

#include <fmt/format.h>

#include "errors.hpp"
#include "loaded_module.hpp"

namespace kjit {
namespace {

bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

struct DecodeLaunchShape {
  CUfunction function = nullptr;
  int shared_bytes = 0;  // dynamic shared memory
  int ctas_per_sm = 0;   // how many CTAs of it one SM holds at once
};

// The decode entry point on `device`, opted in to its dynamic shared memory (K/V stages; above
// 48 KB a launch must opt in), and its occupancy: one wave of the split-KV schedule is as many
// CTAs as the kernel's registers and shared memory let the SMs hold (H100: 4 per SM at head_dim
// 64 and for FP8 at 128, capped at 128 registers; 2 for BF16 at 128 and FP8 at 256; 1 for BF16 at
// 256, whose stages take 128 KB).
DecodeLaunchShape decode_launch_shape(const Kernel& kernel, int device) {
  DecodeLaunchShape launch;
  launch.function = kernel.function(kBatchDecodeEntryPoint, device);
  launch.shared_bytes = kernel.global_int(kBatchDecodeSharedBytesSymbol, device);
  const int max_shared_bytes = device_max_shared_bytes_per_block(device);
  if (launch.shared_bytes > max_shared_bytes) {
    throw CudaError(fmt::format(
        "{} stages {} bytes of K and V per CTA in shared memory, but a CTA on device {} ({}) "
        "may use at most {}",
        kernel.uri(), launch.shared_bytes, device, device_arch(device).name(), max_shared_bytes));
  }
  const CudaDriver& cu = cuda_driver();
  KJIT_CUDA_CHECK(cu.cuFuncSetAttribute(
      launch.function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, launch.shared_bytes));
  KJIT_CUDA_CHECK(cu.cuOccupancyMaxActiveBlocksPerMultiprocessor(
      &launch.ctas_per_sm, launch.function, kBatchDecodeThreads, launch.shared_bytes));
  return launch;
}

// The schedule a plan on `device` uses; `schedule_sms` > 0 stands in for the SM count.
BatchDecodeSchedule schedule_on(int device, const DecodeLaunchShape& launch,
                                const std::vector<int>& kv_indptr,
                                const std::vector<int>& kv_last_page_len,
                                const BatchDecodeShape& shape, int schedule_sms) {
  return schedule_batch_decode(kv_indptr, kv_last_page_len, shape,
                               schedule_sms > 0 ? schedule_sms : device_sm_count(device),
                               launch.ctas_per_sm);
}

}  // namespace

std::size_t BatchDecodePlan::workspace_bytes_needed(const Kernel& kernel,
                                                    const std::vector<int>& kv_indptr,
                                                    const std::vector<int>& kv_last_page_len,
                                                    const BatchDecodeShape& shape,
                                                    int schedule_sms) {
  const int device = current_device();
  return schedule_on(device, decode_launch_shape(kernel, device), kv_indptr, kv_last_page_len,
                     shape, schedule_sms)
      .workspace_bytes;
}

BatchDecodePlan::BatchDecodePlan(Kernel kernel, const std::vector<int>& kv_indptr,
                                 const std::vector<int>& kv_last_page_len,
                                 const BatchDecodeShape& shape, void* workspace,
                                 std::size_t workspace_bytes, CUstream stream, int schedule_sms)
    : kernel_(std::move(kernel)), shape_(shape), workspace_(static_cast<char*>(workspace)) {
  if (shape_.head_dim != kernel_.spec().head_dim) {
    throw InvalidArgument(fmt::format("head_dim {} does not match the kernel's ({})",
                                      shape_.head_dim, kernel_.spec().head_dim));
  }
  if (shape_.window_left >= 0 && !kernel_.spec().use_swa) {
    throw InvalidArgument(fmt::format("window_left={} needs a sliding-window kernel; {} has none",
                                      shape_.window_left, kernel_.uri()));
  }
  device_ = current_device();
  const DecodeLaunchShape launch = decode_launch_shape(kernel_, device_);
  decode_ = launch.function;
  shared_bytes_ = launch.shared_bytes;
  merge_ = kernel_.function(kBatchDecodeMergeEntryPoint, device_);
  dependent_launch_ = device_arch(device_).major >= 9;
  page_size_divisor_ = make_fast_divisor(static_cast<unsigned>(shape_.page_size));
  schedule_ = schedule_on(device_, launch, kv_indptr, kv_last_page_len, shape_, schedule_sms);
  if (workspace_bytes < schedule_.workspace_bytes || workspace == nullptr) {
    throw InvalidArgument(fmt::format(
        "the workspace holds {} bytes but this batch needs {} (split-KV partial results); "
        "pass a larger workspace buffer",
        workspace_bytes, schedule_.workspace_bytes));
  }
  // The schedule and the partial results are read with 16-byte loads.
  if (!aligned16(workspace)) {
    throw InvalidArgument(
        "the workspace must be 16-byte aligned (a fresh allocation is; a slice of one may not be)");
  }

  const CudaDriver& cu = cuda_driver();
  const auto base = reinterpret_cast<CUdeviceptr>(workspace_);
  KJIT_CUDA_CHECK(
      cu.cuMemcpyHtoDAsync(base + schedule_.work_items_offset, schedule_.work_items.data(),
                           schedule_.work_items.size() * sizeof(BatchDecodeWorkItem), stream));
  if (!schedule_.merge_items.empty()) {
    KJIT_CUDA_CHECK(
        cu.cuMemcpyHtoDAsync(base + schedule_.merge_items_offset, schedule_.merge_items.data(),
                             schedule_.merge_items.size() * sizeof(BatchDecodeMergeItem), stream));
  }
  // The decode grid's own merges count on zeroed counters (and leave them zeroed).
  const std::size_t counter_bytes = schedule_.workspace_bytes - schedule_.group_counters_offset;
  if (counter_bytes > 0) {
    KJIT_CUDA_CHECK(
        cu.cuMemsetD8Async(base + schedule_.group_counters_offset, 0, counter_bytes, stream));
  }
  // The host vectors must outlive the copies.
  KJIT_CUDA_CHECK(cu.cuStreamSynchronize(stream));
}

void BatchDecodePlan::run(BatchDecodeParams params, CUstream stream) const {
  if (!params.q || !params.k || !params.v || !params.o || !params.kv_indices) {
    throw InvalidArgument("q, k, v, o and kv_indices are required");
  }
  // Sinks are never silently ignored, nor silently absent.
  if (kernel_.spec().use_sinks != (params.sinks != nullptr)) {
    throw InvalidArgument(
        kernel_.spec().use_sinks
            ? fmt::format("{} uses attention sinks but no sinks were given", kernel_.uri())
            : fmt::format("sinks were given but {} has no attention sinks: "
                          "plan with use_sinks",
                          kernel_.uri()));
  }
  // Every lane reads 16-byte (or 8-byte) runs of K and V rows.
  const long long values_per_16_bytes = 16 / size_in_bytes(kernel_.spec().dtype_kv);
  if (!aligned16(params.k) || !aligned16(params.v) || params.kv_stride_page % values_per_16_bytes ||
      params.kv_stride_token % values_per_16_bytes || params.kv_stride_head % values_per_16_bytes) {
    throw InvalidArgument(
        "the KV cache must be 16-byte aligned: base pointers and page, token "
        "and head strides");
  }
  params.work_items =
      reinterpret_cast<const BatchDecodeWorkItem*>(workspace_ + schedule_.work_items_offset);
  params.merge_items =
      reinterpret_cast<const BatchDecodeMergeItem*>(workspace_ + schedule_.merge_items_offset);
  params.partial_o = reinterpret_cast<float*>(workspace_ + schedule_.partial_o_offset);
  params.partial_lse = reinterpret_cast<float*>(workspace_ + schedule_.partial_lse_offset);
  params.group_counters = reinterpret_cast<int*>(workspace_ + schedule_.group_counters_offset);
  params.num_qo_heads = shape_.num_qo_heads;
  params.num_kv_heads = shape_.num_kv_heads;
  params.num_row_blocks = schedule_.num_row_blocks;
  params.page_size = shape_.page_size;
  params.page_size_divisor = page_size_divisor_;

  const CudaDriver& cu = cuda_driver();
  void* arguments[] = {&params};
  KJIT_CUDA_CHECK(cu.cuLaunchKernel(decode_, static_cast<unsigned>(schedule_.work_items.size()),
                                    static_cast<unsigned>(schedule_.num_row_blocks), 1,
                                    kBatchDecodeThreads, 1, 1, shared_bytes_, stream, arguments,
                                    nullptr));
  if (!schedule_.merge_items.empty()) {
    // Programmatic dependent launch (sm_90+): the merge grid is launched while the decode grid
    // runs (every decode CTA allows it as it starts), reads its merge item, and waits in
    // griddepcontrol.wait for the decode grid's results, so no launch gap separates the two.
    CUlaunchAttribute overlap{};
    overlap.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    overlap.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig config{};
    config.gridDimX = static_cast<unsigned>(schedule_.merge_items.size());
    config.gridDimY = static_cast<unsigned>(shape_.num_qo_heads);
    config.gridDimZ = 1;
    config.blockDimX = kBatchDecodeThreads;
    config.blockDimY = config.blockDimZ = 1;
    config.hStream = stream;
    config.attrs = &overlap;
    config.numAttrs = dependent_launch_ ? 1 : 0;
    KJIT_CUDA_CHECK(cu.cuLaunchKernelEx(&config, merge_, arguments, nullptr));
  }
}

}  // namespace kjit
