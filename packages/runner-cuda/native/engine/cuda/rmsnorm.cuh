// RMSNorm over the last dimension, computed in f32 as Hugging Face does:
// out = w * (x * rsqrt(mean(x^2) + eps)). The output type is f32 for the matrix-vector path and
// the weights' 16-bit type when the next step is a tensor-core matmul.
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kRmsNormThreads = 256;

// Output row r normalises input row (row_index ? row_index[r] : r), so the final norm can
// gather just the rows whose logits are needed.
template <typename OT>
cudaError_t launch_rmsnorm(const float* x, const float* weight, OT* out, int rows, int dim,
                           float eps, cudaStream_t stream, const int32_t* row_index = nullptr);

}  // namespace cuda
}  // namespace inferkit
