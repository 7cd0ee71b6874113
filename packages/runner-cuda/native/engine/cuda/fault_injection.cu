#include "fault_injection.cuh"

namespace inferkit {
namespace cuda {

#if defined(INFERKIT_CUDA_FAULT_INJECTION)
__global__ void out_of_bounds_store_kernel(float* valid, int64_t offset) { valid[offset] = 1.f; }

cudaError_t launch_out_of_bounds_store(float* valid, cudaStream_t stream) {
  // The offset comes in as an argument so the compiler cannot prove the store out of bounds.
  out_of_bounds_store_kernel<<<1, 1, 0, stream>>>(valid, static_cast<int64_t>(1) << 36);
  return cudaGetLastError();
}
#endif

}  // namespace cuda
}  // namespace inferkit
