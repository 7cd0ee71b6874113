/*
RMSNorm in f32 (HF: w * (x * rsqrt(mean(x^2) + eps))) with an optional row gather, writing f32
(matrix-vector path) or BF16 (tensor-core path).

Build: part of tools/CMakeLists.txt (target wb_rmsnorm), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine rmsnorm.cu -o rmsnorm

version 1: one thread per row (serial sum of squares): the baseline.
version 2: the engine kernel (engine/cuda/rmsnorm.cu): one block per row, block reduction.

Run: ./rmsnorm
*/
#include "common.h"
#include "cuda/rmsnorm.cu"

using namespace inferkit::cuda;

__global__ void rmsnorm_kernel1(const float* x, const float* w, float* out, int rows, int dim, float eps) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float ss = 0.f;
  for (int i = 0; i < dim; ++i) ss += x[static_cast<size_t>(r) * dim + i] * x[static_cast<size_t>(r) * dim + i];
  const float inv = rsqrtf(ss / dim + eps);
  for (int i = 0; i < dim; ++i) out[static_cast<size_t>(r) * dim + i] = w[i] * (x[static_cast<size_t>(r) * dim + i] * inv);
}

int main() {
  bool ok = true;
  const int rows = 64, dim = 2048;
  const float eps = 1e-5f;
  const std::vector<float> x = random_floats(static_cast<size_t>(rows) * dim, 1, 3.f), w = random_floats(dim, 2);
  const std::vector<int> gather = {63, 0, 17};
  std::vector<double> ref(static_cast<size_t>(rows) * dim), ref_g(gather.size() * dim);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int i = 0; i < dim; ++i) ref[static_cast<size_t>(r) * dim + i] = w[i] * (x[r * dim + i] * inv);
  }
  for (size_t g = 0; g < gather.size(); ++g)
    for (int i = 0; i < dim; ++i) ref_g[g * dim + i] = ref[static_cast<size_t>(gather[g]) * dim + i];
  float* dx = to_device(x);
  float* dw = to_device(w);
  int* dg = to_device(gather);
  float* dy;
  bf16* dy16;
  WB_CHECK(cudaMalloc(&dy, x.size() * 4));
  WB_CHECK(cudaMalloc(&dy16, x.size() * 2));
  rmsnorm_kernel1<<<1, rows>>>(dx, dw, dy, rows, dim, eps);
  ok = validate("kernel1 f32", to_host(dy, x.size()), ref, 1e-5, 1e-5) && ok;
  WB_CHECK(cudaMemset(dy, 0xFF, x.size() * 4));
  WB_CHECK(launch_rmsnorm<float>(dx, dw, dy, rows, dim, eps, 0));
  ok = validate("kernel2 f32", to_host(dy, x.size()), ref, 1e-5, 1e-5) && ok;
  WB_CHECK(launch_rmsnorm<float>(dx, dw, dy, 3, dim, eps, 0, dg));
  ok = validate("kernel2 f32 gather", to_host(dy, ref_g.size()), ref_g, 1e-5, 1e-5) && ok;
  WB_CHECK(launch_rmsnorm<bf16>(dx, dw, dy16, rows, dim, eps, 0));
  {
    const std::vector<bf16> h = to_host(dy16, x.size());
    std::vector<float> f(h.size());
    for (size_t i = 0; i < h.size(); ++i) f[i] = __bfloat162float(h[i]);
    ok = validate("kernel2 bf16 out", f, ref, 1e-2, 8e-3) && ok;
  }
  for (int r : {1, 64}) {
    const float t1 = time_kernel([&] { rmsnorm_kernel1<<<1, r>>>(dx, dw, dy, r, dim, eps); });
    const float t2 = time_kernel([&] { WB_CHECK(launch_rmsnorm<float>(dx, dw, dy, r, dim, eps, 0)); });
    std::printf("time rows=%d dim=%d: kernel1 %.4f ms, kernel2 %.4f ms\n", r, dim, t1, t2);
  }
  std::printf("%s\n", ok ? "OK rmsnorm" : "FAIL rmsnorm");
  return ok ? 0 : 1;
}
