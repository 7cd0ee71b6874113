// Launchers for the GGUF block-quantized weight kernels (quant_kernels.cuh).
#pragma once

#include "cuda_common.cuh"
#include "matvec.cuh"

namespace inferkit {
namespace cuda {

enum class QType : int;

struct MatvecQArgs {
  QType type;
  const void* weight;     // [n] rows of row_bytes, ggml blocks
  size_t row_bytes;
  const float* in;        // see MatvecInput
  int in_stride;
  const float* bias;      // [n] or nullptr
  float* out;             // [rows, out_stride]
  int out_stride;
  int rows;               // any; launched in passes of kMatvecMaxRows
  int n;
  int k;                  // a multiple of the type's block (checked at load)
  bool accumulate;
  MatvecInput input = MatvecInput::kPlain;
  const float* norm_weight = nullptr;
  float norm_eps = 0.f;
};

cudaError_t launch_matvec_q(const MatvecQArgs& args, cudaStream_t stream);

// dst [rows, k] BF16 = the rows of a quantized matrix (for the tensor-core matmul).
cudaError_t launch_dequantize_bf16(QType type, const void* weight, size_t row_bytes, int rows, int k,
                                   bf16* dst, cudaStream_t stream);

// out[t, :] = table[tokens[t], :] dequantized to f32.
cudaError_t launch_embedding_q(QType type, const void* table, size_t row_bytes, const int32_t* tokens,
                               float* out, int num_tokens, int dim, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
