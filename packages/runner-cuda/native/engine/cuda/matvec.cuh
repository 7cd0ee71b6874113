// Decode-path linear layer: y[b, n] (+)= sum_k W[n, k] * x[b, k] + bias[n] for a few rows b.
//
// This is the step that bounds decode speed: at batch 1 every weight byte is read once per token,
// so the kernel is a pure weight stream. Each output row is read by `warps per row` warps (1 for
// K up to 32 * 8 * kMatvecUnroll elements, more for longer rows, so that no warp needs more than
// one or two rounds of loads: the 1B model's per-layer matrices are small, and a long serial
// chain of loads per warp, not bandwidth, was what bounded them). Each lane issues
// kMatvecUnroll independent 16-byte loads before using any of them. x is f32, read through L1
// (every warp of the block reuses it); accumulation is f32; the partial sums of a row's warps
// meet in shared memory.
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kMatvecWarps = 8;      // warps per block
constexpr int kMatvecUnroll = 8;     // 16-byte weight loads in flight per lane
constexpr int kMatvecMaxRows = 4;    // the batch sizes this kernel is instantiated for

// How x is produced from the input buffer.
enum class MatvecInput {
  kPlain,   // x[b, k] = in[b * in_stride + k]
  kSwiGLU,  // x[b, k] = silu(in[b * in_stride + k]) * in[b * in_stride + K + k] (fused MLP act)
  kRmsNorm, // x[b, k] = in[b, k] * rsqrt(mean_k(in[b, :]^2) + eps) * norm_weight[k] (fused
            // pre-norm: each block reduces its rows' squares while its first weight loads fly)
};

struct MatvecArgs {
  const void* weight;     // [N, K] of WT, row-major (PyTorch Linear layout)
  const float* in;        // see MatvecInput
  int in_stride;
  const float* bias;      // [N] or nullptr
  float* out;             // [rows, out_stride]
  int out_stride;
  int rows;               // 1..kMatvecMaxRows
  int n;
  int k;                  // multiple of 8 (checked at load)
  bool accumulate;        // out += result (fused residual add)
  MatvecInput input = MatvecInput::kPlain;
  const float* norm_weight = nullptr;  // kRmsNorm: [K]
  float norm_eps = 0.f;
};

// Launches ceil(rows / kMatvecMaxRows) passes when rows exceeds kMatvecMaxRows, so any row count
// works (the weight is then re-read once per pass).
template <typename WT>
cudaError_t launch_matvec(const MatvecArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
