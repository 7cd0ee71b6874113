#include "activation.cuh"

namespace inferkit {
namespace cuda {

__device__ __forceinline__ float silu(float g) { return g / (1.f + __expf(-g)); }

template <typename OT>
__global__ void swiglu_kernel(const float* __restrict__ gate_up, OT* __restrict__ out, int inter) {
  pdl_wait();
  pdl_trigger();
  const float* g = gate_up + static_cast<int64_t>(blockIdx.y) * 2 * inter;
  OT* o = out + static_cast<int64_t>(blockIdx.y) * inter;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < inter; i += gridDim.x * blockDim.x)
    o[i] = from_f32<OT>(silu(g[i]) * g[inter + i]);
}

template <typename OT>
__global__ void convert_kernel(const float* __restrict__ in, OT* __restrict__ out, int64_t n) {
  pdl_wait();
  pdl_trigger();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = from_f32<OT>(in[i]);
}

template <typename OT>
cudaError_t launch_swiglu(const float* gate_up, OT* out, int rows, int inter, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  dim3 grid(ceil_div(inter, kActivationThreads), rows);
  if (grid.x > 64) grid.x = 64;
  return launch_k(swiglu_kernel<OT>, grid, dim3(kActivationThreads), 0, stream, gate_up, out, inter);
}

template <typename OT>
cudaError_t launch_convert(const float* in, OT* out, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  int64_t blocks = (n + kActivationThreads - 1) / kActivationThreads;
  if (blocks > 4096) blocks = 4096;
  return launch_k(convert_kernel<OT>, dim3(static_cast<unsigned>(blocks)), dim3(kActivationThreads), 0,
                  stream, in, out, n);
}

template cudaError_t launch_swiglu<float>(const float*, float*, int, int, cudaStream_t);
template cudaError_t launch_swiglu<bf16>(const float*, bf16*, int, int, cudaStream_t);
template cudaError_t launch_swiglu<f16>(const float*, f16*, int, int, cudaStream_t);
template cudaError_t launch_convert<float>(const float*, float*, int64_t, cudaStream_t);
template cudaError_t launch_convert<bf16>(const float*, bf16*, int64_t, cudaStream_t);
template cudaError_t launch_convert<f16>(const float*, f16*, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
