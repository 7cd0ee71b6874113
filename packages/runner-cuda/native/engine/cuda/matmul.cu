#include "matmul.cuh"

#include <mma.h>  // defines: nvcuda::wmma

#include <algorithm>

namespace inferkit {
namespace cuda {

namespace wmma = nvcuda::wmma;

constexpr int kLds = kMatmulBK + 8;             // padded row (elements): 80 bytes, no bank conflicts
constexpr int kLdc = kMatmulBN + 4;             // padded f32 epilogue row
constexpr int kTileElemsA = kMatmulBM * kLds;
constexpr int kTileElemsB = kMatmulBN * kLds;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0 source bytes = zero fill
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Loads the A and B tiles at k0; columns at or beyond k_end are zero-filled. K is W's row length.
template <typename T>
__device__ __forceinline__ void load_tiles(T* As, T* Bs, const T* __restrict__ X, int ldx,
                                           const T* __restrict__ W, int M, int N, int K, int k_end,
                                           int m0, int n0, int k0) {
  const int tid = threadIdx.x;
  {  // A: 64 rows x 4 chunks of 8 elements = 256 chunks, one per thread
    const int r = tid >> 2, c = (tid & 3) * 8;
    const bool ok = (m0 + r < M) && (k0 + c < k_end);
    const T* src = ok ? X + static_cast<int64_t>(m0 + r) * ldx + k0 + c : X;
    cp_async16(As + r * kLds + c, src, ok);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {  // B: 128 rows x 4 chunks = 512 chunks, two per thread
    const int r = (tid >> 2) + i * 64, c = (tid & 3) * 8;
    const bool ok = (n0 + r < N) && (k0 + c < k_end);
    const T* src = ok ? W + static_cast<int64_t>(n0 + r) * K + k0 + c : W;
    cp_async16(Bs + r * kLds + c, src, ok);
  }
}

template <typename T>
__global__ void __launch_bounds__(kMatmulThreads)
matmul_wmma_kernel(const T* __restrict__ X, int ldx, const T* __restrict__ W,
                   const float* __restrict__ bias, float* __restrict__ Y, int ldy, int M, int N,
                   int K, bool accumulate, int k_per_split, float* __restrict__ partials) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  pdl_wait();
  pdl_trigger();
  T* As = reinterpret_cast<T*>(smem_raw);
  T* Bs = As + kMatmulStages * kTileElemsA;
  float* Cs = reinterpret_cast<float*>(smem_raw);  // reused after the main loop

  const int m0 = blockIdx.y * kMatmulBM, n0 = blockIdx.x * kMatmulBN;
  const int warp = threadIdx.x >> 5;
  const int wm = (warp >> 2) * 32, wn = (warp & 3) * 32;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(K, k_begin + k_per_split);
  const int ktiles = (k_end - k_begin + kMatmulBK - 1) / kMatmulBK;
#pragma unroll
  for (int s = 0; s < kMatmulStages - 1; ++s) {
    if (s < ktiles)
      load_tiles(As + s * kTileElemsA, Bs + s * kTileElemsB, X, ldx, W, M, N, K, k_end, m0, n0,
                 k_begin + s * kMatmulBK);
    cp_async_commit();  // commit even when empty so the group count stays in step
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<kMatmulStages - 2>();
    __syncthreads();  // tile kt visible to all; everyone is done with tile kt-1's stage
    const int pf = kt + kMatmulStages - 1;
    if (pf < ktiles) {
      const int st = pf % kMatmulStages;
      load_tiles(As + st * kTileElemsA, Bs + st * kTileElemsB, X, ldx, W, M, N, K, k_end, m0, n0,
                 k_begin + pf * kMatmulBK);
    }
    cp_async_commit();

    const T* a_tile = As + (kt % kMatmulStages) * kTileElemsA;
    const T* b_tile = Bs + (kt % kMatmulStages) * kTileElemsB;
#pragma unroll
    for (int kk = 0; kk < kMatmulBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], a_tile + (wm + i * 16) * kLds + kk, kLds);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], b_tile + (wn + j * 16) * kLds + kk, kLds);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the pipeline buffers become the epilogue tile

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm + i * 16) * kLdc + wn + j * 16, acc[i][j], kLdc,
                              wmma::mem_row_major);
  __syncthreads();

  for (int idx = threadIdx.x; idx < kMatmulBM * kMatmulBN; idx += kMatmulThreads) {
    const int r = idx / kMatmulBN, c = idx % kMatmulBN;
    const int m = m0 + r, n = n0 + c;
    if (m < M && n < N) {
      if (partials != nullptr) {  // split-K: raw partial, the reduce kernel finishes
        partials[(static_cast<int64_t>(blockIdx.z) * M + m) * N + n] = Cs[r * kLdc + c];
        continue;
      }
      float v = Cs[r * kLdc + c] + (bias != nullptr ? bias[n] : 0.f);
      float* y = Y + static_cast<int64_t>(m) * ldy + n;
      *y = accumulate ? *y + v : v;
    }
  }
}

__global__ void splitk_reduce_kernel(const float* __restrict__ partials, int splits,
                                     const float* __restrict__ bias, float* __restrict__ Y, int ldy,
                                     int M, int N, bool accumulate) {
  pdl_wait();
  pdl_trigger();
  const int64_t total = static_cast<int64_t>(M) * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int m = static_cast<int>(i / N), n = static_cast<int>(i % N);
    float v = bias != nullptr ? bias[n] : 0.f;
    for (int s = 0; s < splits; ++s) v += partials[s * total + i];
    float* y = Y + static_cast<int64_t>(m) * ldy + n;
    *y = accumulate ? *y + v : v;
  }
}

static int sm_count() {
  static int n = 0;
  if (n == 0) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0)
      n = 108;
  }
  return n;
}

template <typename T>
constexpr size_t matmul_smem_bytes() {
  const size_t pipe = static_cast<size_t>(kMatmulStages) * (kTileElemsA + kTileElemsB) * sizeof(T);
  const size_t epi = static_cast<size_t>(kMatmulBM) * kLdc * sizeof(float);
  return pipe > epi ? pipe : epi;
}

template <typename T>
cudaError_t launch_matmul(const MatmulArgs& a, cudaStream_t stream) {
  if (a.m <= 0 || a.n <= 0) return cudaSuccess;
  constexpr size_t smem = matmul_smem_bytes<T>();
  static_assert(smem <= 48 * 1024, "matmul tile must fit the default shared-memory limit");
  const int tiles = ceil_div(a.n, kMatmulBN) * ceil_div(a.m, kMatmulBM);
  // Split K until there are about two blocks per SM, keeping >= 4 K steps per split.
  int splits = 1;
  if (a.workspace != nullptr) {
    splits = std::min(ceil_div(2 * sm_count(), tiles), std::max(1, a.k / (4 * kMatmulBK)));
    const size_t per_split = static_cast<size_t>(a.m) * a.n;
    while (splits > 1 && static_cast<size_t>(splits) * per_split > a.workspace_floats) --splits;
  }
  const int k_per_split = ceil_div(ceil_div(a.k, splits), kMatmulBK) * kMatmulBK;
  splits = ceil_div(a.k, k_per_split);
  const dim3 grid(ceil_div(a.n, kMatmulBN), ceil_div(a.m, kMatmulBM), splits);
  float* partials = splits > 1 ? a.workspace : nullptr;
  cudaError_t e = launch_k(matmul_wmma_kernel<T>, grid, dim3(kMatmulThreads), smem, stream,
                           static_cast<const T*>(a.x), a.ldx, static_cast<const T*>(a.weight), a.bias,
                           a.y, a.ldy, a.m, a.n, a.k, a.accumulate, k_per_split, partials);
  if (e != cudaSuccess || splits == 1) return e;
  const int64_t total = static_cast<int64_t>(a.m) * a.n;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  return launch_k(splitk_reduce_kernel, dim3(blocks), dim3(256), 0, stream,
                  static_cast<const float*>(a.workspace), splits, a.bias, a.y, a.ldy, a.m, a.n, a.accumulate);
}

template cudaError_t launch_matmul<bf16>(const MatmulArgs&, cudaStream_t);
template cudaError_t launch_matmul<f16>(const MatmulArgs&, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
