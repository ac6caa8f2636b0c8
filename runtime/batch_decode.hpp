// Host side of the batch decode family: launching a kernel the Runtime returned.
#pragma once

#include "batch_decode_params.h"
#include "cuda_driver.hpp"
#include "runtime.hpp"

namespace kjit {

// Checks the parameters that would make the kernel read out of bounds or divide by zero, then
// launches on `stream` (0: the legacy default stream) on the current context's device.
// Throws InvalidArgument for bad parameters, CudaError for launch failures.
void launch_batch_decode(const Kernel& kernel, const BatchDecodeParams& params, CUstream stream);

}  // namespace kjit
