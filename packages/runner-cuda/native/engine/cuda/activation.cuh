// SiLU-gated MLP activation and the f32 -> 16-bit conversion that feeds tensor-core matmuls.
// On the matrix-vector (decode) path the activation is fused into the down projection's input
// load instead (see matvec.cuh), so these run only on the matmul path.
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kActivationThreads = 256;

// gate_up is [rows, 2*inter] (gate half first, as the fused gate|up projection writes it);
// out[r, i] = silu(gate[r, i]) * up[r, i].
template <typename OT>
cudaError_t launch_swiglu(const float* gate_up, OT* out, int rows, int inter, cudaStream_t stream);

// out[i] = (OT) in[i] for i < n.
template <typename OT>
cudaError_t launch_convert(const float* in, OT* out, int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
