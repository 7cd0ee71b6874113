#include "matvec.cuh"

namespace inferkit {
namespace cuda {

__device__ __forceinline__ float silu_f(float g) { return g / (1.f + __expf(-g)); }

// Loads VEC consecutive x values (f32) starting at k for one row, applying the input transform.
template <int VEC, MatvecInput IN>
__device__ __forceinline__ void load_x(const float* __restrict__ row, int k, int K, float* x) {
#pragma unroll
  for (int i = 0; i < VEC; i += 4) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(row + k + i));
    if constexpr (IN == MatvecInput::kPlain) {
      x[i] = a.x; x[i + 1] = a.y; x[i + 2] = a.z; x[i + 3] = a.w;
    } else {
      const float4 u = __ldg(reinterpret_cast<const float4*>(row + K + k + i));
      x[i] = silu_f(a.x) * u.x; x[i + 1] = silu_f(a.y) * u.y;
      x[i + 2] = silu_f(a.z) * u.z; x[i + 3] = silu_f(a.w) * u.w;
    }
  }
}

template <typename WT, int NB, MatvecInput IN>
__global__ void __launch_bounds__(kMatvecWarps * 32)
matvec_kernel(const WT* __restrict__ W, const float* __restrict__ in, int in_stride,
              const float* __restrict__ bias, float* __restrict__ out, int out_stride, int N, int K,
              bool accumulate) {
  constexpr int VEC = kVec<WT>;
  constexpr int STEP = 32 * VEC;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kMatvecWarps + warp;
  if (n >= N) return;
  const WT* wrow = W + static_cast<int64_t>(n) * K;

  float acc[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) acc[b] = 0.f;

  for (int k0 = lane * VEC; k0 < K; k0 += STEP * kMatvecUnroll) {
    uint4 wv[kMatvecUnroll];
    // All loads first: they are independent, so they overlap in the memory system.
#pragma unroll
    for (int u = 0; u < kMatvecUnroll; ++u) {
      const int k = k0 + u * STEP;
      wv[u] = k < K ? ld_stream16(wrow + k) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kMatvecUnroll; ++u) {
      const int k = k0 + u * STEP;
      if (k >= K) break;
      float w[VEC];
      unpack16<WT>(wv[u], w);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        float x[VEC];
        load_x<VEC, IN>(in + static_cast<int64_t>(b) * in_stride, k, K, x);
#pragma unroll
        for (int i = 0; i < VEC; ++i) acc[b] = fmaf(w[i], x[i], acc[b]);
      }
    }
  }
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    const float s = warp_sum(acc[b]);
    if (lane == 0) {
      float* y = out + static_cast<int64_t>(b) * out_stride + n;
      const float v = s + (bias != nullptr ? bias[n] : 0.f);
      *y = accumulate ? *y + v : v;
    }
  }
}

template <typename WT, int NB>
static cudaError_t launch_nb(const MatvecArgs& a, const float* in, float* out, cudaStream_t s) {
  const dim3 grid(ceil_div(a.n, kMatvecWarps));
  const WT* w = static_cast<const WT*>(a.weight);
  if (a.input == MatvecInput::kPlain)
    matvec_kernel<WT, NB, MatvecInput::kPlain><<<grid, kMatvecWarps * 32, 0, s>>>(
        w, in, a.in_stride, a.bias, out, a.out_stride, a.n, a.k, a.accumulate);
  else
    matvec_kernel<WT, NB, MatvecInput::kSwiGLU><<<grid, kMatvecWarps * 32, 0, s>>>(
        w, in, a.in_stride, a.bias, out, a.out_stride, a.n, a.k, a.accumulate);
  return cudaGetLastError();
}

template <typename WT>
cudaError_t launch_matvec(const MatvecArgs& a, cudaStream_t stream) {
  for (int r0 = 0; r0 < a.rows; r0 += kMatvecMaxRows) {
    const int nb = a.rows - r0 < kMatvecMaxRows ? a.rows - r0 : kMatvecMaxRows;
    const float* in = a.in + static_cast<int64_t>(r0) * a.in_stride;
    float* out = a.out + static_cast<int64_t>(r0) * a.out_stride;
    cudaError_t e = cudaSuccess;
    switch (nb) {
      case 1: e = launch_nb<WT, 1>(a, in, out, stream); break;
      case 2: e = launch_nb<WT, 2>(a, in, out, stream); break;
      case 3: e = launch_nb<WT, 3>(a, in, out, stream); break;
      default: e = launch_nb<WT, 4>(a, in, out, stream); break;
    }
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

template cudaError_t launch_matvec<float>(const MatvecArgs&, cudaStream_t);
template cudaError_t launch_matvec<bf16>(const MatvecArgs&, cudaStream_t);
template cudaError_t launch_matvec<f16>(const MatvecArgs&, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
