// Host side of the batch decode family: plan once per batch layout, run many times.
//   BatchDecodePlan plan(kernel, kv_indptr, kv_last_page_len, shape, workspace, bytes, stream);
//   plan.run(params, stream);   // launches only: no allocation, no synchronisation
#pragma once

#include <cstddef>
#include <vector>

#include "batch_decode_params.h"
#include "batch_decode_schedule.hpp"
#include "cuda_driver.hpp"
#include "runtime.hpp"

namespace kjit {

class BatchDecodePlan {
 public:
  // Schedules the batch (host copies of kv_indptr and kv_last_page_len) for the device of the
  // current context and uploads the schedule into `workspace` (device memory), ordered on
  // `stream`. Throws InvalidArgument for a bad page table or a workspace smaller than the
  // schedule needs (the message gives the size). `schedule_sms` > 0 schedules as if the GPU had
  // that many SMs (tests use it to force or forbid split-KV).
  BatchDecodePlan(Kernel kernel, const std::vector<int>& kv_indptr,
                  const std::vector<int>& kv_last_page_len, const BatchDecodeShape& shape,
                  void* workspace, std::size_t workspace_bytes, CUstream stream,
                  int schedule_sms = 0);

  // Fills in the schedule and shape fields of `params` (pointers, strides and scales are the
  // caller's) and launches the decode kernel, then the merge kernel if the plan merges split
  // requests there. Runs of plans sharing one workspace must not overlap (use one stream, or
  // order them): they share its partial results and the in-grid merges' counters.
  // Throws InvalidArgument for missing or misaligned tensors, CudaError for launch failures.
  void run(BatchDecodeParams params, CUstream stream) const;

  // The workspace the constructor would need for this batch on the current context's device:
  // the split-KV schedule depends on how many of the kernel's CTAs one SM holds, which only the
  // loaded kernel tells. Throws as the constructor does.
  static std::size_t workspace_bytes_needed(const Kernel& kernel, const std::vector<int>& kv_indptr,
                                            const std::vector<int>& kv_last_page_len,
                                            const BatchDecodeShape& shape, int schedule_sms = 0);

  const BatchDecodeSchedule& schedule() const { return schedule_; }
  const Kernel& kernel() const { return kernel_; }
  int device() const { return device_; }

 private:
  Kernel kernel_;
  BatchDecodeShape shape_;
  BatchDecodeSchedule schedule_;
  char* workspace_ = nullptr;
  int device_ = 0;
  CUfunction decode_ = nullptr;
  CUfunction merge_ = nullptr;
  int shared_bytes_ = 0;           // dynamic shared memory of the decode kernel
  bool dependent_launch_ = false;  // the merge overlaps the decode grid's end (sm_90+)
  FastDivisor page_size_divisor_{};
};

}  // namespace kjit
