/*
SiLU-gated MLP activation: out[r, i] = silu(gate_up[r, i]) * gate_up[r, I + i], written as BF16
for the down projection's tensor-core matmul. (On the decode path the same product is computed
inside the down projection's input load: see matvec.cu, "swiglu-input".)

Build: part of tools/CMakeLists.txt (target wb_swiglu), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine swiglu.cu -o swiglu

version 1: the engine kernel (engine/cuda/activation.cu): grid-stride over each row.

Run: ./swiglu
*/
#include "common.h"
#include "cuda/activation.cu"

using namespace inferkit::cuda;

int main() {
  const int rows = 64, inter = 8192;
  const std::vector<float> gu = random_floats(static_cast<size_t>(rows) * 2 * inter, 1, 4.f);
  std::vector<double> ref(static_cast<size_t>(rows) * inter);
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < inter; ++i) {
      const double g = gu[static_cast<size_t>(r) * 2 * inter + i], u = gu[static_cast<size_t>(r) * 2 * inter + inter + i];
      ref[static_cast<size_t>(r) * inter + i] = g / (1 + std::exp(-g)) * u;
    }
  float* dgu = to_device(gu);
  float* dout;
  bf16* dout16;
  WB_CHECK(cudaMalloc(&dout, ref.size() * 4));
  WB_CHECK(cudaMalloc(&dout16, ref.size() * 2));
  WB_CHECK(launch_swiglu<float>(dgu, dout, rows, inter, 0));
  bool ok = validate("kernel1 f32", to_host(dout, ref.size()), ref, 1e-5, 1e-5);
  WB_CHECK(launch_swiglu<bf16>(dgu, dout16, rows, inter, 0));
  const std::vector<bf16> h = to_host(dout16, ref.size());
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = __bfloat162float(h[i]);
  ok = validate("kernel1 bf16", f, ref, 1e-2, 8e-3) && ok;
  const float ms = time_kernel([&] { WB_CHECK(launch_swiglu<bf16>(dgu, dout16, rows, inter, 0)); });
  std::printf("time kernel1 rows=%d inter=%d: %.4f ms, %.0f GB/s\n", rows, inter, ms,
              (rows * 2.0 * inter * 4 + rows * inter * 2.0) / (ms * 1e-3) / 1e9);
  std::printf("%s\n", ok ? "OK swiglu" : "FAIL swiglu");
  return ok ? 0 : 1;
}
