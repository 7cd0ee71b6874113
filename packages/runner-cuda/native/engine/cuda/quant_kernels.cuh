// GGUF block-quantized weights on the device (layouts: engine/cpu/quant_blocks.h): the decode
// matvec dequantizes in registers, prefill and batches dequantize a matrix to BF16 for the
// tensor-core matmul, the embedding dequantizes the rows it gathers.
//
// Every kernel works in units of 8 consecutive values of one weight row (decode8): one lane of
// a warp decodes its 8 weights (their block's scale, and for the k-quants the sub-block's scale
// and min) once and multiplies them with up to NB activation rows. No shared memory, no inline
// assembly: the host emulation (dev/cuda/emu/emu_quant.cpp) runs this text unchanged and checks
// it against the CPU backend's dequantization.
#pragma once

#include "cuda_common.cuh"
#include "matvec.cuh"

namespace inferkit {
namespace cuda {

// Weight types by their ggml block layout (the values match inferkit::DType's order, which the
// host side checks with a static_assert).
enum class QType : int { kQ8_0 = 3, kQ4_0 = 4, kQ4_K = 5, kQ5_K = 6, kQ6_K = 7 };

__device__ __forceinline__ float half_at(const uint8_t* p) {
  uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
  __half v;
  memcpy(&v, &h, 2);
  return __half2float(v);
}

// ggml get_scale_min_k4.
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Values v0 .. v0 + 7 (v0 a multiple of 8) of a row of blocks into out[8].
template <QType Q>
__device__ __forceinline__ void decode8(const uint8_t* __restrict__ row, int v0, float* out) {
  if constexpr (Q == QType::kQ8_0) {
    const uint8_t* b = row + (v0 / 32) * 34;
    const float d = half_at(b);
    const int8_t* q = reinterpret_cast<const int8_t*>(b + 2 + v0 % 32);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = d * q[i];
  } else if constexpr (Q == QType::kQ4_0) {
    const uint8_t* b = row + (v0 / 32) * 18;
    const float d = half_at(b);
    const int j = v0 % 32;
    const uint8_t* q = b + 2 + (j & 15);
    const int shift = j < 16 ? 0 : 4;
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = d * static_cast<float>(((q[i] >> shift) & 15) - 8);
  } else if constexpr (Q == QType::kQ4_K || Q == QType::kQ5_K) {
    constexpr int kBytes = Q == QType::kQ4_K ? 144 : 176;
    const uint8_t* b = row + (v0 / 256) * kBytes;
    const int v = v0 % 256, c = v / 64, hi = (v % 64) >= 32, l = v % 32;
    int sc, m;
    scale_min_k4(2 * c + hi, b + 4, &sc, &m);
    const float d = half_at(b) * sc, dm = half_at(b + 2) * m;
    const uint8_t* qs = b + (Q == QType::kQ4_K ? 16 : 48) + 32 * c + l;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int q = hi ? (qs[i] >> 4) : (qs[i] & 15);
      if constexpr (Q == QType::kQ5_K) q += ((b[16 + l + i] >> (2 * c + hi)) & 1) << 4;
      out[i] = d * q - dm;
    }
  } else {  // kQ6_K
    const uint8_t* b = row + (v0 / 256) * 210;
    const int v = v0 % 256, h = v / 128, quarter = (v % 128) / 32, l = v % 32;
    const uint8_t* ql = b + 64 * h + (quarter & 1) * 32 + l;
    const uint8_t* qh = b + 128 + 32 * h + l;
    const int8_t sc = static_cast<int8_t>(b[192 + 8 * h + 2 * quarter + l / 16]);
    const float d = half_at(b + 208) * sc;
    const int shift = quarter >= 2 ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = ((ql[i] >> shift) & 15) | (((qh[i] >> (2 * quarter)) & 3) << 4);
      out[i] = d * static_cast<float>(q - 32);
    }
  }
}

// y[b, n] (+)= W[n, :] . x[b, :] (+ bias[n]) for b < NB: one warp per output row, each lane 8
// values at a time, x transformed as MatvecInput says (the fused pre-norm reduces each row's
// squares in every warp: no shared memory, and the row is in L1 for the dot products anyway).
template <QType Q, int NB, MatvecInput IN>
__global__ void __launch_bounds__(256)
matvec_q_kernel(const uint8_t* __restrict__ W, size_t row_bytes, const float* __restrict__ in, int in_stride,
                const float* __restrict__ bias, float* __restrict__ out, int out_stride, int N, int K,
                bool accumulate, const float* __restrict__ norm_w, float norm_eps) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + warp;
  pdl_wait();
  pdl_trigger();
  if (n >= N) return;  // the whole warp leaves together: no collective is left waiting
  float inv[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    inv[b] = 1.f;
    if constexpr (IN == MatvecInput::kRmsNorm) {
      const float* row = in + static_cast<int64_t>(b) * in_stride;
      float ss = 0.f;
      for (int k = lane; k < K; k += 32) ss += row[k] * row[k];
      inv[b] = rsqrtf(warp_sum(ss) / static_cast<float>(K) + norm_eps);
    }
  }
  const uint8_t* wrow = W + static_cast<int64_t>(n) * row_bytes;
  float acc[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) acc[b] = 0.f;
  for (int v0 = lane * 8; v0 < K; v0 += 256) {
    float w[8];
    decode8<Q>(wrow, v0, w);
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      const float* row = in + static_cast<int64_t>(b) * in_stride;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        float x;
        if constexpr (IN == MatvecInput::kPlain) {
          x = row[v0 + i];
        } else if constexpr (IN == MatvecInput::kRmsNorm) {
          x = (row[v0 + i] * inv[b]) * norm_w[v0 + i];
        } else {
          const float g = row[v0 + i];
          x = g / (1.f + __expf(-g)) * row[K + v0 + i];
        }
        acc[b] += w[i] * x;
      }
    }
  }
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    const float s = warp_sum(acc[b]);
    if (lane == 0) {
      float r = s + (bias ? bias[n] : 0.f);
      float* o = out + static_cast<int64_t>(b) * out_stride + n;
      *o = accumulate ? *o + r : r;
    }
  }
}

// dst[r, :] = W[r, :] as BF16 for rows [0, rows): one thread per 8 values.
template <QType Q>
__global__ void dequantize_bf16_kernel(const uint8_t* __restrict__ W, size_t row_bytes, int rows, int K,
                                       bf16* __restrict__ dst) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int per_row = K / 8;
  if (i >= static_cast<int64_t>(rows) * per_row) return;
  const int64_t r = i / per_row;
  const int v0 = static_cast<int>(i % per_row) * 8;
  float w[8];
  decode8<Q>(W + r * row_bytes, v0, w);
#pragma unroll
  for (int j = 0; j < 8; ++j) dst[r * K + v0 + j] = __float2bfloat16(w[j]);
}

// out[t, :] = table[tokens[t], :] dequantized to f32: block t, one thread per 8 values.
template <QType Q>
__global__ void embedding_q_kernel(const uint8_t* __restrict__ table, size_t row_bytes,
                                   const int32_t* __restrict__ tokens, float* __restrict__ out, int dim) {
  pdl_wait();
  pdl_trigger();
  const uint8_t* row = table + static_cast<int64_t>(tokens[blockIdx.x]) * row_bytes;
  for (int v0 = threadIdx.x * 8; v0 < dim; v0 += blockDim.x * 8) {
    float w[8];
    decode8<Q>(row, v0, w);
#pragma unroll
    for (int j = 0; j < 8; ++j) out[static_cast<int64_t>(blockIdx.x) * dim + v0 + j] = w[j];
  }
}

}  // namespace cuda
}  // namespace inferkit
