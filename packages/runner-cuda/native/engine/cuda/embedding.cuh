// Embedding gather: one row of the token table per token, widened to the f32 residual stream.
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kEmbeddingThreads = 256;

// out[t, :] = table[tokens[t], :] for t < num_tokens. Token ids are validated on the host
// (0 <= id < vocab) before the launch; the kernel trusts them.
template <typename WT>
cudaError_t launch_embedding(const WT* table, const int32_t* tokens, float* out, int num_tokens,
                             int dim, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
