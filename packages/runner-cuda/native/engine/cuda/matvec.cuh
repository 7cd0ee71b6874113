// Decode-path linear layer: y[b, n] (+)= sum_k W[n, k] * x[b, k] + bias[n] for a few rows b.
//
// This is the step that bounds decode speed: at batch 1 every weight byte is read once per token,
// so the kernel is a pure weight stream. One warp per output row; each lane issues kMatvecUnroll
// independent 16-byte loads before using any of them, so a resident warp keeps
// 32 * 16 * kMatvecUnroll bytes in flight. x is f32, read through L1 (it is reused by every warp
// of the block); accumulation is f32.
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kMatvecWarps = 8;      // rows per block
constexpr int kMatvecUnroll = 4;     // 16-byte weight loads in flight per lane
constexpr int kMatvecMaxRows = 4;    // the batch sizes this kernel is instantiated for

// How x is produced from the input buffer.
enum class MatvecInput {
  kPlain,   // x[b, k] = in[b * in_stride + k]
  kSwiGLU,  // x[b, k] = silu(in[b * in_stride + k]) * in[b * in_stride + K + k] (fused MLP act)
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
};

// Launches ceil(rows / kMatvecMaxRows) passes when rows exceeds kMatvecMaxRows, so any row count
// works (the weight is then re-read once per pass).
template <typename WT>
cudaError_t launch_matvec(const MatvecArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
