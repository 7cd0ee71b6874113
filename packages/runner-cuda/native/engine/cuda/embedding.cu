#include "embedding.cuh"

namespace inferkit {
namespace cuda {

template <typename WT>
__global__ void embedding_kernel(const WT* __restrict__ table, const int32_t* __restrict__ tokens,
                                 float* __restrict__ out, int dim) {
  pdl_trigger();
  const int t = blockIdx.x;
  const WT* row = table + static_cast<int64_t>(tokens[t]) * dim;
  float* dst = out + static_cast<int64_t>(t) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = to_f32(row[i]);
}

template <typename WT>
cudaError_t launch_embedding(const WT* table, const int32_t* tokens, float* out, int num_tokens,
                             int dim, cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  embedding_kernel<WT><<<num_tokens, kEmbeddingThreads, 0, stream>>>(table, tokens, out, dim);
  return cudaGetLastError();
}

template cudaError_t launch_embedding<float>(const float*, const int32_t*, float*, int, int, cudaStream_t);
template cudaError_t launch_embedding<bf16>(const bf16*, const int32_t*, float*, int, int, cudaStream_t);
template cudaError_t launch_embedding<f16>(const f16*, const int32_t*, float*, int, int, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
