/*
Prefill / batched-decode linear layer on tensor cores: Y[M, N] = X[M, K] W[N, K]^T, X and W in
BF16, f32 accumulation and output.

Build: part of tools/CMakeLists.txt (target wb_matmul), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine matmul.cu -o matmul

version 1: one thread per output element, f32 FMA over K (CUDA cores, no reuse through shared
           memory): the baseline.
version 2: the engine kernel (engine/cuda/matmul.cu) without a split-K workspace: WMMA 16x16x16
           BF16 tiles, 64x128 outputs per block of 8 warps, K steps of 32 through a 3-stage
           cp.async pipeline. About 145 TFLOP/s at prefill size on an H200, but at M = 64 the
           2048 x 8192 down projection is 16 blocks for 132 SMs: 0.16 ms, 224 GB/s.
version 3: the engine kernel as the backend calls it: the same tiles with K split across blocks
           until there are about two blocks per SM, partials added by a second kernel.

Run: ./matmul  (validates on ragged and regular shapes, then times the Llama-3.2-1B layers at
M = 64 (batch-64 decode) and M = 2048 (prefill))
*/
#include "common.h"
#include "cuda/matmul.cu"

using namespace inferkit::cuda;

// ---------------------------------------------------------------------------------------------
// CPU reference

void matmul_cpu(const std::vector<float>& x, const std::vector<float>& w, int M, int N, int K,
                std::vector<double>* y) {
  y->assign(static_cast<size_t>(M) * N, 0.0);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = 0;
      for (int k = 0; k < K; ++k) s += static_cast<double>(x[static_cast<size_t>(m) * K + k]) * w[static_cast<size_t>(n) * K + k];
      (*y)[static_cast<size_t>(m) * N + n] = s;
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void matmul_kernel1(const bf16* X, const bf16* W, float* Y, int M, int N, int K) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y;
  if (n >= N) return;
  float acc = 0.f;
  for (int k = 0; k < K; ++k)
    acc += __bfloat162float(X[static_cast<int64_t>(m) * K + k]) * __bfloat162float(W[static_cast<int64_t>(n) * K + k]);
  Y[static_cast<int64_t>(m) * N + n] = acc;
}

// ---------------------------------------------------------------------------------------------

void run(int version, const bf16* X, const bf16* W, float* Y, int M, int N, int K) {
  static float* ws = nullptr;
  if (!ws) WB_CHECK(cudaMalloc(&ws, kMatmulWorkspaceFloats * sizeof(float)));
  if (version == 1) {
    matmul_kernel1<<<dim3(ceil_div(N, 256), M), 256>>>(X, W, Y, M, N, K);
  } else {
    MatmulArgs a;
    a.x = X; a.ldx = K; a.weight = W; a.bias = nullptr; a.y = Y; a.ldy = N;
    a.m = M; a.n = N; a.k = K; a.accumulate = false;
    if (version == 3) { a.workspace = ws; a.workspace_floats = kMatmulWorkspaceFloats; }
    WB_CHECK(launch_matmul<bf16>(a, 0));
  }
  WB_CHECK(cudaGetLastError());
}

int main() {
  bool ok = true;
  struct V { int m, n, k; };
  for (V s : {V{37, 200, 72}, V{128, 512, 512}, V{5, 130, 2048}}) {
    std::vector<float> x = random_floats(static_cast<size_t>(s.m) * s.k, 11), w = random_floats(static_cast<size_t>(s.n) * s.k, 12, 0.05f);
    for (float& v : x) v = bf16_round(v);
    for (float& v : w) v = bf16_round(v);
    std::vector<double> ref;
    matmul_cpu(x, w, s.m, s.n, s.k, &ref);
    bf16* dX = to_device(to_bf16(x));
    bf16* dW = to_device(to_bf16(w));
    float* dY = nullptr;
    WB_CHECK(cudaMalloc(&dY, ref.size() * sizeof(float)));
    for (int v = 1; v <= 3; ++v) {
      WB_CHECK(cudaMemset(dY, 0xFF, ref.size() * sizeof(float)));
      run(v, dX, dW, dY, s.m, s.n, s.k);
      char what[80];
      snprintf(what, sizeof what, "kernel%d M=%d N=%d K=%d", v, s.m, s.n, s.k);
      ok = validate(what, to_host(dY, ref.size()), ref, 1e-3, 1e-3) && ok;
    }
    cudaFree(dX); cudaFree(dW); cudaFree(dY);
  }
  struct T { const char* name; int n, k; };
  for (int M : {8, 64, 2048}) {
    for (T s : {T{"qkv", 3072, 2048}, T{"gate_up", 16384, 2048}, T{"down", 2048, 8192}}) {
      const size_t xs = static_cast<size_t>(M) * s.k, ws = static_cast<size_t>(s.n) * s.k;
      bf16* dX = to_device(to_bf16(random_floats(xs, 21)));
      bf16* dW = to_device(to_bf16(random_floats(ws, 22, 0.05f)));
      float* dY = nullptr;
      WB_CHECK(cudaMalloc(&dY, static_cast<size_t>(M) * s.n * sizeof(float)));
      std::printf("== %s M=%d N=%d K=%d\n", s.name, M, s.n, s.k);
      for (int v = 1; v <= 3; ++v) {
        if (v == 1 && M > 64) continue;  // minutes at prefill size
        const float ms = time_kernel([&] { run(v, dX, dW, dY, M, s.n, s.k); }, 10, 2);
        const double flop = 2.0 * M * s.n * s.k, bytes = 2.0 * (xs + ws) + 4.0 * M * s.n;
        std::printf("time kernel%d: %.4f ms, %.1f TFLOP/s, %.0f GB/s\n", v, ms, flop / (ms * 1e-3) / 1e12,
                    bytes / (ms * 1e-3) / 1e9);
      }
      cudaFree(dX); cudaFree(dW); cudaFree(dY);
    }
  }
  std::printf("%s\n", ok ? "OK matmul" : "FAIL matmul");
  return ok ? 0 : 1;
}
