// Prefill and batched-decode linear layer on tensor cores: Y[M, N] (+)= X[M, K] * W[N, K]^T
// + bias, with X and W in bf16 or f16 and f32 accumulation (WMMA 16x16x16).
//
// Tiles of 64 x 128 outputs per 256-thread block (8 warps, each 32 x 32), K in steps of 32,
// three-stage cp.async pipeline so global loads overlap the tensor-core work. Edges are handled
// with zero-filled copies, so M and N are arbitrary; K must be a multiple of 8 (16-byte rows).
//
// Batched decode (M up to a few dozen rows) gives too few output tiles to occupy the chip (a
// 2048 x 8192 down projection is 16 tiles for 132 SMs), so the K range is split across blocks
// until there are about two blocks per SM; the splits write f32 partials to a workspace and a
// second kernel adds them in a fixed order (deterministic, unlike atomics).
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kMatmulBM = 64;
constexpr int kMatmulBN = 128;
constexpr int kMatmulBK = 32;
constexpr int kMatmulStages = 3;
constexpr int kMatmulThreads = 256;

struct MatmulArgs {
  const void* x;        // [M, ldx] of T
  int ldx;
  const void* weight;   // [N, K] of T
  const float* bias;    // [N] or nullptr
  float* y;             // [M, ldy]
  int ldy;
  int m, n, k;
  bool accumulate;      // y += result (fused residual add)
  float* workspace = nullptr;    // split-K partials; null: no split
  size_t workspace_floats = 0;
};

// Split-K workspace that covers every shape whose tile count is below the split threshold.
constexpr size_t kMatmulWorkspaceFloats = size_t(8) << 20;

template <typename T>  // bf16 or f16
cudaError_t launch_matmul(const MatmulArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
