#include "rmsnorm.cuh"

namespace inferkit {
namespace cuda {

template <typename OT>
__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                               OT* __restrict__ out, int dim, float eps,
                               const int32_t* __restrict__ row_index) {
  __shared__ float scratch[32];
  pdl_wait();
  pdl_trigger();
  const int src = row_index != nullptr ? row_index[blockIdx.x] : blockIdx.x;
  const float* row = x + static_cast<int64_t>(src) * dim;
  OT* dst = out + static_cast<int64_t>(blockIdx.x) * dim;
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
  ss = block_sum(ss, scratch);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = from_f32<OT>(w[i] * (row[i] * inv));
}

template <typename OT>
cudaError_t launch_rmsnorm(const float* x, const float* weight, OT* out, int rows, int dim,
                           float eps, cudaStream_t stream, const int32_t* row_index) {
  if (rows <= 0) return cudaSuccess;
  return launch_k(rmsnorm_kernel<OT>, dim3(rows), dim3(kRmsNormThreads), 0, stream, x, weight, out,
                  dim, eps, row_index);
}

template cudaError_t launch_rmsnorm<float>(const float*, const float*, float*, int, int, float, cudaStream_t, const int32_t*);
template cudaError_t launch_rmsnorm<bf16>(const float*, const float*, bf16*, int, int, float, cudaStream_t, const int32_t*);
template cudaError_t launch_rmsnorm<f16>(const float*, const float*, f16*, int, int, float, cudaStream_t, const int32_t*);

}  // namespace cuda
}  // namespace inferkit
