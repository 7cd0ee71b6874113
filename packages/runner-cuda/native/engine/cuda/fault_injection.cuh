// Test-build fault: a kernel that stores far outside any allocation, so the device raises a
// real illegal-address error and the backend's poison path runs end to end on a GPU. Compiled
// in only with -DINFERKIT_CUDA_FAULT_INJECTION (CMake option INFERKIT_CUDA_FAULT_INJECTION).
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

#if defined(INFERKIT_CUDA_FAULT_INJECTION)
// Writes one float 2^38 bytes past `valid` (a live device allocation).
cudaError_t launch_out_of_bounds_store(float* valid, cudaStream_t stream);
#endif

}  // namespace cuda
}  // namespace inferkit
