#include "matvec.cuh"

namespace inferkit {
namespace cuda {

__device__ __forceinline__ float silu_f(float g) { return g / (1.f + __expf(-g)); }

// Loads VEC consecutive x values (f32) starting at k for one row, applying the input transform.
template <int VEC, MatvecInput IN>
__device__ __forceinline__ void load_x(const float* __restrict__ row, int k, int K, float* x,
                                       const float* __restrict__ nw = nullptr, float inv = 1.f) {
#pragma unroll
  for (int i = 0; i < VEC; i += 4) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(row + k + i));
    if constexpr (IN == MatvecInput::kPlain) {
      x[i] = a.x; x[i + 1] = a.y; x[i + 2] = a.z; x[i + 3] = a.w;
    } else if constexpr (IN == MatvecInput::kRmsNorm) {
      // Same rounding order as the rmsnorm kernel and the CPU backend: (x * inv) * w.
      const float4 w = __ldg(reinterpret_cast<const float4*>(nw + k + i));
      x[i] = (a.x * inv) * w.x; x[i + 1] = (a.y * inv) * w.y;
      x[i + 2] = (a.z * inv) * w.z; x[i + 3] = (a.w * inv) * w.w;
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
              bool accumulate, int wpr, const float* __restrict__ norm_w, float norm_eps) {
  constexpr int VEC = kVec<WT>;
  __shared__ float partial[kMatvecWarps][NB];
  __shared__ float inv_rms[NB];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int rows_per_block = kMatvecWarps / wpr;
  const int n = blockIdx.x * rows_per_block + warp / wpr;
  const int part = warp % wpr;
  const int step = wpr * 32 * VEC;  // elements one round of the row's warps covers
  const WT* wrow = W + static_cast<int64_t>(n < N ? n : 0) * K;

  // First round of weight loads, all independent, so they overlap in the memory system (and,
  // with a fused norm, with the reduction below).
  int k0 = (part * 32 + lane) * VEC;
  uint4 wv[kMatvecUnroll];
#pragma unroll
  for (int u = 0; u < kMatvecUnroll; ++u) {
    const int k = k0 + u * step;
    wv[u] = (n < N && k < K) ? ld_stream16(wrow + k) : make_uint4(0, 0, 0, 0);
  }

  pdl_wait();  // x (and out, with accumulate) come from earlier kernels
  pdl_trigger();

  float inv[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) inv[b] = 1.f;
  if constexpr (IN == MatvecInput::kRmsNorm) {
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      const float* row = in + static_cast<int64_t>(b) * in_stride;
      float ss = 0.f;
      for (int i = threadIdx.x * 4; i < K; i += blockDim.x * 4) {
        const float4 v = __ldg(reinterpret_cast<const float4*>(row + i));
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      }
      ss = warp_sum(ss);
      if (lane == 0) partial[warp][b] = ss;
    }
    __syncthreads();
    if (threadIdx.x < NB) {
      float ss = 0.f;
      for (int w = 0; w < kMatvecWarps; ++w) ss += partial[w][threadIdx.x];
      inv_rms[threadIdx.x] = rsqrtf(ss / static_cast<float>(K) + norm_eps);
    }
    __syncthreads();
#pragma unroll
    for (int b = 0; b < NB; ++b) inv[b] = inv_rms[b];
    __syncthreads();  // partial is reused for the row sums below
  }

  float acc[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) acc[b] = 0.f;

  if (n < N) {
    while (k0 < K) {
#pragma unroll
      for (int u = 0; u < kMatvecUnroll; ++u) {
        const int k = k0 + u * step;
        if (k < K) {  // predicated, not a break, so the compiler may hoist the x loads
          float w[VEC];
          unpack16<WT>(wv[u], w);
#pragma unroll
          for (int b = 0; b < NB; ++b) {
            float x[VEC];
            load_x<VEC, IN>(in + static_cast<int64_t>(b) * in_stride, k, K, x, norm_w, inv[b]);
#pragma unroll
            for (int i = 0; i < VEC; ++i) acc[b] = fmaf(w[i], x[i], acc[b]);
          }
        }
      }
      k0 += step * kMatvecUnroll;
      if (k0 < K) {
#pragma unroll
        for (int u = 0; u < kMatvecUnroll; ++u) {
          const int k = k0 + u * step;
          wv[u] = k < K ? ld_stream16(wrow + k) : make_uint4(0, 0, 0, 0);
        }
      }
    }
  }
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    const float s = warp_sum(acc[b]);
    if (lane == 0) partial[warp][b] = s;
  }
  __syncthreads();
  if (part == 0 && lane == 0 && n < N) {
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      float s = 0.f;
      for (int w = 0; w < wpr; ++w) s += partial[warp + w][b];  // fixed order: deterministic
      float* y = out + static_cast<int64_t>(b) * out_stride + n;
      const float v = s + (bias != nullptr ? bias[n] : 0.f);
      *y = accumulate ? *y + v : v;
    }
  }
}

// Warps per row: enough that each warp does at most about one round of kMatvecUnroll loads.
template <typename WT>
static int warps_per_row(int k) {
  const int per_warp_round = 32 * kVec<WT> * kMatvecUnroll;
  int w = 1;
  while (w < kMatvecWarps && w * per_warp_round < k) w *= 2;
  return w;
}

template <typename WT, int NB>
static cudaError_t launch_nb(const MatvecArgs& a, const float* in, float* out, cudaStream_t s) {
  const int wpr = warps_per_row<WT>(a.k);
  const dim3 grid(ceil_div(a.n, kMatvecWarps / wpr));
  const WT* w = static_cast<const WT*>(a.weight);
  switch (a.input) {
    case MatvecInput::kPlain:
      return launch_k(matvec_kernel<WT, NB, MatvecInput::kPlain>, grid, dim3(kMatvecWarps * 32), 0, s,
                      w, in, a.in_stride, a.bias, out, a.out_stride, a.n, a.k, a.accumulate, wpr,
                      static_cast<const float*>(nullptr), 0.f);
    case MatvecInput::kSwiGLU:
      return launch_k(matvec_kernel<WT, NB, MatvecInput::kSwiGLU>, grid, dim3(kMatvecWarps * 32), 0, s,
                      w, in, a.in_stride, a.bias, out, a.out_stride, a.n, a.k, a.accumulate, wpr,
                      static_cast<const float*>(nullptr), 0.f);
    case MatvecInput::kRmsNorm:
      return launch_k(matvec_kernel<WT, NB, MatvecInput::kRmsNorm>, grid, dim3(kMatvecWarps * 32), 0, s,
                      w, in, a.in_stride, a.bias, out, a.out_stride, a.n, a.k, a.accumulate, wpr,
                      a.norm_weight, a.norm_eps);
  }
  return cudaErrorInvalidValue;
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
