/*
Decode matrix-vector product, y[b, n] = sum_k W[n, k] x[b, k] (+ bias, + residual), W in BF16,
x and y in f32, f32 accumulation: the kernel that bounds decode speed (every weight byte is
read once per token at batch 1, so the figure of merit is achieved bandwidth).

Build: part of tools/CMakeLists.txt (target wb_matvec), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine matvec.cu -o matvec

version 1: one thread per output row, scalar loads. Lanes of a warp read addresses K elements
           apart, so every load is its own memory transaction: the naive baseline.
version 2: one warp per row, each lane reads 4 bytes (a bf16 pair) per step: coalesced, but a
           warp keeps only 128 bytes in flight per step.
version 3: one warp per row, 16-byte streaming (L1 no-allocate) loads, 4 independent loads in
           flight per lane. On an H200 it reached 2.8-4.0 TB/s on the 67-525 MB matrices but only
           1.0-1.8 TB/s on the 8-34 MB ones of a 1B model (o_proj, down): a row of K = 8192 is
           8 serial rounds of loads for one warp, and the loads after a `break` could not be
           hoisted.
version 4: the engine kernel (engine/cuda/matvec.cu): rows of more than 2048 elements are split
           across 2-8 warps that meet in shared memory, 8 loads in flight per lane, predicated
           instead of breaking out of the unrolled loop.

Run: ./matvec  (validates every version on the Llama-3.2-1B shapes at 1 and 4 rows, then times)
*/
#include "common.h"
#include "cuda/matvec.cu"

using namespace inferkit::cuda;

// ---------------------------------------------------------------------------------------------
// CPU reference

void matvec_cpu(const std::vector<float>& w, const std::vector<float>& x, int rows, int n, int k,
                std::vector<double>* y) {
  y->assign(static_cast<size_t>(rows) * n, 0.0);
  for (int b = 0; b < rows; ++b)
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int j = 0; j < k; ++j) s += static_cast<double>(w[static_cast<size_t>(i) * k + j]) * x[static_cast<size_t>(b) * k + j];
      (*y)[static_cast<size_t>(b) * n + i] = s;
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void matvec_kernel1(const bf16* W, const float* x, float* y, int rows, int N, int K) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  for (int b = 0; b < rows; ++b) {
    float acc = 0.f;
    for (int k = 0; k < K; ++k) acc += __bfloat162float(W[static_cast<int64_t>(n) * K + k]) * x[b * K + k];
    y[b * N + n] = acc;
  }
}

// Version 3 as it was in the engine before version 4 replaced it.
__global__ void __launch_bounds__(256) matvec_kernel3(const bf16* __restrict__ W, const float* __restrict__ x,
                                                      float* __restrict__ y, int rows, int N, int K) {
  constexpr int VEC = 8, STEP = 32 * VEC, U = 4;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * 8 + warp;
  if (n >= N) return;
  const bf16* wrow = W + static_cast<int64_t>(n) * K;
  for (int b = 0; b < rows; ++b) {
    float acc = 0.f;
    for (int k0 = lane * VEC; k0 < K; k0 += STEP * U) {
      uint4 wv[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int k = k0 + u * STEP;
        wv[u] = k < K ? ld_stream16(wrow + k) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int k = k0 + u * STEP;
        if (k >= K) break;
        float w[VEC];
        unpack16<bf16>(wv[u], w);
#pragma unroll
        for (int i = 0; i < VEC; ++i) acc = fmaf(w[i], x[b * K + k + i], acc);
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) y[b * N + n] = acc;
  }
}

__global__ void matvec_kernel2(const bf16* W, const float* x, float* y, int rows, int N, int K) {
  const int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (n >= N) return;
  const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(W + static_cast<int64_t>(n) * K);
  for (int b = 0; b < rows; ++b) {
    float acc = 0.f;
    for (int k = lane; k < K / 2; k += 32) {
      const float2 wf = __bfloat1622float2(w2[k]);
      acc += wf.x * x[b * K + 2 * k] + wf.y * x[b * K + 2 * k + 1];
    }
    acc = warp_sum(acc);
    if (lane == 0) y[b * N + n] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Launchers

void run(int version, const bf16* W, const float* x, float* y, int rows, int N, int K) {
  switch (version) {
    case 1: matvec_kernel1<<<ceil_div(N, 128), 128>>>(W, x, y, rows, N, K); break;
    case 2: matvec_kernel2<<<ceil_div(N, 8), 256>>>(W, x, y, rows, N, K); break;
    case 3: matvec_kernel3<<<ceil_div(N, 8), 256>>>(W, x, y, rows, N, K); break;
    default: {
      MatvecArgs a;
      a.weight = W; a.in = x; a.in_stride = K; a.bias = nullptr; a.out = y; a.out_stride = N;
      a.rows = rows; a.n = N; a.k = K; a.accumulate = false;
      WB_CHECK(launch_matvec<bf16>(a, 0));
    }
  }
  WB_CHECK(cudaGetLastError());
}

int main() {
  struct Shape { const char* name; int n, k; };
  const Shape shapes[] = {{"qkv", 3072, 2048}, {"o_proj", 2048, 2048}, {"gate_up", 16384, 2048},
                          {"down", 2048, 8192}, {"lm_head", 128256, 2048}};
  bool ok = true;
  for (const Shape& s : shapes) {
    std::printf("== %s: N=%d K=%d (%.1f MB of BF16 weights)\n", s.name, s.n, s.k, 2.0 * s.n * s.k / 1e6);
    std::vector<float> w = random_floats(static_cast<size_t>(s.n) * s.k, 1, 0.05f);
    for (float& v : w) v = bf16_round(v);
    const std::vector<float> x = random_floats(4 * static_cast<size_t>(s.k), 2);
    bf16* dW = to_device(to_bf16(w));
    float* dx = to_device(x);
    float* dy = nullptr;
    WB_CHECK(cudaMalloc(&dy, 4 * static_cast<size_t>(s.n) * sizeof(float)));
    for (int rows : {1, 4}) {
      if (rows == 4 && s.n > 20000) continue;  // the CPU reference of lm_head x 4 is slow
      std::vector<double> ref;
      matvec_cpu(w, x, rows, s.n, s.k, &ref);
      for (int v = 1; v <= 4; ++v) {
        WB_CHECK(cudaMemset(dy, 0xFF, 4 * static_cast<size_t>(s.n) * sizeof(float)));  // NaN poison
        run(v, dW, dx, dy, rows, s.n, s.k);
        char what[64];
        snprintf(what, sizeof what, "kernel%d rows=%d", v, rows);
        ok = validate(what, to_host(dy, static_cast<size_t>(rows) * s.n), ref, 1e-3, 1e-3) && ok;
      }
    }
    for (int v = 1; v <= 4; ++v) {
      if (v == 1 && s.n > 20000) continue;
      const float ms = time_kernel([&] { run(v, dW, dx, dy, 1, s.n, s.k); });
      std::printf("time kernel%d rows=1: %.4f ms, %.0f GB/s\n", v, ms, 2.0 * s.n * s.k / (ms * 1e-3) / 1e9);
    }
    const float ms4 = time_kernel([&] { run(4, dW, dx, dy, 4, s.n, s.k); });
    std::printf("time kernel4 rows=4: %.4f ms, %.0f GB/s\n", ms4, 2.0 * s.n * s.k / (ms4 * 1e-3) / 1e9);
    cudaFree(dW); cudaFree(dx); cudaFree(dy);
  }
  // The fused SwiGLU input of the down projection: x = silu(g) * u from a [rows, 2K] buffer.
  {
    const int N = 256, K = 512, rows = 3;
    std::vector<float> w = random_floats(static_cast<size_t>(N) * K, 3, 0.05f);
    for (float& v : w) v = bf16_round(v);
    const std::vector<float> gu = random_floats(static_cast<size_t>(rows) * 2 * K, 4, 2.f);
    std::vector<float> x(static_cast<size_t>(rows) * K);
    for (int b = 0; b < rows; ++b)
      for (int k = 0; k < K; ++k) {
        const double g = gu[b * 2 * K + k], u = gu[b * 2 * K + K + k];
        x[b * K + k] = static_cast<float>(g / (1 + std::exp(-g)) * u);
      }
    std::vector<double> ref;
    matvec_cpu(w, x, rows, N, K, &ref);
    std::vector<float> res = random_floats(static_cast<size_t>(rows) * N, 5);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] += res[i];
    bf16* dW = to_device(to_bf16(w));
    float* dgu = to_device(gu);
    float* dy = to_device(res);
    MatvecArgs a;
    a.weight = dW; a.in = dgu; a.in_stride = 2 * K; a.bias = nullptr; a.out = dy; a.out_stride = N;
    a.rows = rows; a.n = N; a.k = K; a.accumulate = true; a.input = MatvecInput::kSwiGLU;
    WB_CHECK(launch_matvec<bf16>(a, 0));
    ok = validate("kernel4 swiglu-input + residual", to_host(dy, ref.size()), ref, 1e-3, 1e-3) && ok;
  }
  // The fused pre-norm of the q|k|v and gate|up projections: x = rmsnorm(in) * norm_weight.
  for (int K : {2048, 8192}) {
    const int N = 256, rows = 3;
    std::vector<float> w = random_floats(static_cast<size_t>(N) * K, 6, 0.05f);
    for (float& v : w) v = bf16_round(v);
    const std::vector<float> in = random_floats(static_cast<size_t>(rows) * K, 7, 3.f);
    const std::vector<float> nw = random_floats(K, 8, 1.5f);
    std::vector<float> x(in.size());
    for (int b = 0; b < rows; ++b) {
      double ss = 0;
      for (int k = 0; k < K; ++k) ss += static_cast<double>(in[b * K + k]) * in[b * K + k];
      const double inv = 1.0 / std::sqrt(ss / K + 1e-5);
      for (int k = 0; k < K; ++k) x[b * K + k] = static_cast<float>(in[b * K + k] * inv * nw[k]);
    }
    std::vector<double> ref;
    matvec_cpu(w, x, rows, N, K, &ref);
    bf16* dW = to_device(to_bf16(w));
    float* din = to_device(in);
    float* dnw = to_device(nw);
    float* dy;
    WB_CHECK(cudaMalloc(&dy, ref.size() * 4));
    MatvecArgs a;
    a.weight = dW; a.in = din; a.in_stride = K; a.bias = nullptr; a.out = dy; a.out_stride = N;
    a.rows = rows; a.n = N; a.k = K; a.accumulate = false; a.input = MatvecInput::kRmsNorm;
    a.norm_weight = dnw; a.norm_eps = 1e-5f;
    WB_CHECK(launch_matvec<bf16>(a, 0));
    char what[64];
    snprintf(what, sizeof what, "kernel4 rmsnorm-input K=%d", K);
    ok = validate(what, to_host(dy, ref.size()), ref, 1e-3, 1e-3) && ok;
    cudaFree(dW); cudaFree(din); cudaFree(dnw); cudaFree(dy);
  }
  std::printf("%s\n", ok ? "OK matvec" : "FAIL matvec");
  return ok ? 0 : 1;
}
