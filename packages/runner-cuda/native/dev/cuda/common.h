// Shared helpers for the kernel workbench (dev/cuda). Workbench programs are development
// tools, so a failed CUDA call prints and exits here; the engine never does (see
// engine/cuda/cuda_backend.cu).
#pragma once

#include <cuda_bf16.h>  // defines: __nv_bfloat16
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define WB_CHECK(expr)                                                                      \
  do {                                                                                      \
    cudaError_t e_ = (expr);                                                                \
    if (e_ != cudaSuccess) {                                                                \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__,  \
                   __LINE__, #expr);                                                        \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

// Deterministic uniform floats in [-scale, scale).
inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.f) {
  std::vector<float> v(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    v[i] = scale * (static_cast<float>((x >> 40) & 0xFFFFFF) / 8388608.f - 1.f);
  }
  return v;
}

inline float bf16_round(float f) { return __bfloat162float(__float2bfloat16(f)); }

inline std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = __float2bfloat16(v[i]);
  return o;
}

template <typename T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  WB_CHECK(cudaMalloc(&d, std::max<size_t>(h.size(), 1) * sizeof(T)));
  WB_CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <typename T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  WB_CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// Compares against a reference with a tolerance that grows with the magnitude; prints the first
// few mismatches. NaN or an unwritten (poisoned) output never passes.
inline bool validate(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
                     double atol, double rtol) {
  int bad = 0;
  double max_err = 0, num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    const double err = std::fabs(g - r);
    num += (g - r) * (g - r);
    den += r * r;
    if (!(err <= atol + rtol * std::fabs(r))) {
      if (bad < 5) std::printf("  mismatch %s[%zu]: got %.6g want %.6g\n", what, i, g, r);
      ++bad;
    }
    if (std::isfinite(err)) max_err = std::max(max_err, err);
    else max_err = INFINITY;
  }
  std::printf("%s %s: max abs err %.3g, rel L2 %.3g, %d/%zu outside tolerance\n", bad ? "FAIL" : "OK",
              what, max_err, den > 0 ? std::sqrt(num / den) : 0.0, bad, ref.size());
  return bad == 0;
}

// Median time in ms of `reps` runs of fn() after `warmup` runs, with a 256 MB write between
// runs so each one starts with a cold L2 (the weights of a real step are not in cache).
template <typename F>
float time_kernel(F fn, int reps = 20, int warmup = 3) {
  static char* flush = nullptr;
  const size_t flush_bytes = size_t(256) << 20;
  if (!flush) WB_CHECK(cudaMalloc(&flush, flush_bytes));
  cudaEvent_t a, b;
  WB_CHECK(cudaEventCreate(&a));
  WB_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    WB_CHECK(cudaMemsetAsync(flush, i, flush_bytes));
    WB_CHECK(cudaEventRecord(a));
    fn();
    WB_CHECK(cudaEventRecord(b));
    WB_CHECK(cudaEventSynchronize(b));
    float t = 0;
    WB_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  WB_CHECK(cudaGetLastError());
  std::sort(ms.begin(), ms.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms[ms.size() / 2];
}
