#include "quant.cuh"
#include "quant_kernels.cuh"

namespace inferkit {
namespace cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

template <QType Q, int NB>
cudaError_t matvec_q_rows(const MatvecQArgs& a, const float* in, float* out, cudaStream_t stream) {
  const dim3 grid((a.n + kWarpsPerBlock - 1) / kWarpsPerBlock), block(kWarpsPerBlock * 32);
  switch (a.input) {
    case MatvecInput::kPlain:
      return launch_k(matvec_q_kernel<Q, NB, MatvecInput::kPlain>, grid, block, 0, stream,
                        static_cast<const uint8_t*>(a.weight), a.row_bytes, in, a.in_stride, a.bias, out,
                        a.out_stride, a.n, a.k, a.accumulate, a.norm_weight, a.norm_eps);
    case MatvecInput::kRmsNorm:
      return launch_k(matvec_q_kernel<Q, NB, MatvecInput::kRmsNorm>, grid, block, 0, stream,
                        static_cast<const uint8_t*>(a.weight), a.row_bytes, in, a.in_stride, a.bias, out,
                        a.out_stride, a.n, a.k, a.accumulate, a.norm_weight, a.norm_eps);
    case MatvecInput::kSwiGLU:
      return launch_k(matvec_q_kernel<Q, NB, MatvecInput::kSwiGLU>, grid, block, 0, stream,
                        static_cast<const uint8_t*>(a.weight), a.row_bytes, in, a.in_stride, a.bias, out,
                        a.out_stride, a.n, a.k, a.accumulate, a.norm_weight, a.norm_eps);
  }
  return cudaErrorInvalidValue;
}

template <QType Q>
cudaError_t matvec_q_typed(const MatvecQArgs& a, cudaStream_t stream) {
  for (int r0 = 0; r0 < a.rows; r0 += kMatvecMaxRows) {
    const int nb = a.rows - r0 < kMatvecMaxRows ? a.rows - r0 : kMatvecMaxRows;
    const float* in = a.in + static_cast<int64_t>(r0) * a.in_stride;
    float* out = a.out + static_cast<int64_t>(r0) * a.out_stride;
    cudaError_t e = cudaSuccess;
    switch (nb) {
      case 1: e = matvec_q_rows<Q, 1>(a, in, out, stream); break;
      case 2: e = matvec_q_rows<Q, 2>(a, in, out, stream); break;
      case 3: e = matvec_q_rows<Q, 3>(a, in, out, stream); break;
      default: e = matvec_q_rows<Q, 4>(a, in, out, stream); break;
    }
    if (e != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_matvec_q(const MatvecQArgs& a, cudaStream_t stream) {
  if (a.rows <= 0 || a.n <= 0) return cudaSuccess;
  switch (a.type) {
    case QType::kQ8_0: return matvec_q_typed<QType::kQ8_0>(a, stream);
    case QType::kQ4_0: return matvec_q_typed<QType::kQ4_0>(a, stream);
    case QType::kQ4_K: return matvec_q_typed<QType::kQ4_K>(a, stream);
    case QType::kQ5_K: return matvec_q_typed<QType::kQ5_K>(a, stream);
    case QType::kQ6_K: return matvec_q_typed<QType::kQ6_K>(a, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_dequantize_bf16(QType type, const void* weight, size_t row_bytes, int rows, int k, bf16* dst,
                                   cudaStream_t stream) {
  const int64_t items = static_cast<int64_t>(rows) * (k / 8);
  if (items == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>((items + 255) / 256)), block(256);
  const uint8_t* w = static_cast<const uint8_t*>(weight);
  switch (type) {
    case QType::kQ8_0: dequantize_bf16_kernel<QType::kQ8_0><<<grid, block, 0, stream>>>(w, row_bytes, rows, k, dst); break;
    case QType::kQ4_0: dequantize_bf16_kernel<QType::kQ4_0><<<grid, block, 0, stream>>>(w, row_bytes, rows, k, dst); break;
    case QType::kQ4_K: dequantize_bf16_kernel<QType::kQ4_K><<<grid, block, 0, stream>>>(w, row_bytes, rows, k, dst); break;
    case QType::kQ5_K: dequantize_bf16_kernel<QType::kQ5_K><<<grid, block, 0, stream>>>(w, row_bytes, rows, k, dst); break;
    case QType::kQ6_K: dequantize_bf16_kernel<QType::kQ6_K><<<grid, block, 0, stream>>>(w, row_bytes, rows, k, dst); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_embedding_q(QType type, const void* table, size_t row_bytes, const int32_t* tokens, float* out,
                               int num_tokens, int dim, cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  const dim3 grid(num_tokens), block(128);
  const uint8_t* t = static_cast<const uint8_t*>(table);
  switch (type) {
    case QType::kQ8_0: return launch_k(embedding_q_kernel<QType::kQ8_0>, grid, block, 0, stream, t, row_bytes, tokens, out, dim);
    case QType::kQ4_0: return launch_k(embedding_q_kernel<QType::kQ4_0>, grid, block, 0, stream, t, row_bytes, tokens, out, dim);
    case QType::kQ4_K: return launch_k(embedding_q_kernel<QType::kQ4_K>, grid, block, 0, stream, t, row_bytes, tokens, out, dim);
    case QType::kQ5_K: return launch_k(embedding_q_kernel<QType::kQ5_K>, grid, block, 0, stream, t, row_bytes, tokens, out, dim);
    case QType::kQ6_K: return launch_k(embedding_q_kernel<QType::kQ6_K>, grid, block, 0, stream, t, row_bytes, tokens, out, dim);
  }
  return cudaErrorInvalidValue;
}

}  // namespace cuda
}  // namespace inferkit
