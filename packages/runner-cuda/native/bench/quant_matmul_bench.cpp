// quant_matmul_bench: one quantized matmul in isolation, every kernel path, single thread.
//
//   quant_matmul_bench [--reps 20]
//
// For Q8_0, Q4_K and Q6_K weights of the 125m / 1b bench models' shapes (the last one larger than
// the L3 cache) and T tokens (1, 4, 8, 16, 64, 512), times Kernels::matmul_q on the ggml rows (the row kernels) and, where the
// variant has them, matmul_q_packed on the 16-row groups (quant_blocks.h), after checking both
// against matmul_q_reference. Prints the best of --reps runs (a shared machine's interruptions
// only make runs slower) as GMAC/s and weight GB/s.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/kernels.h"

using namespace inferkit;
using namespace inferkit::cpu;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<uint8_t> random_rows(DType t, int64_t rows, int64_t K, std::mt19937& rng) {
  std::vector<uint8_t> w(dtype_row_bytes(t, K) * rows);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  const size_t bb = dtype_block_bytes(t);
  for (size_t off = 0; off < w.size(); off += bb) {
    const uint16_t d = f32_to_f16(0.01f);
    std::memcpy(&w[off + (t == DType::kQ6_K ? 208 : 0)], &d, 2);
    if (t == DType::kQ4_K) std::memcpy(&w[off + 2], &d, 2);
  }
  return w;
}

template <typename F>
double best_seconds(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
  }
  const Kernels& k = best_kernels();
  std::printf("kernels: %s, single thread, best of %d\n\n", k.name, reps);
  std::printf("| type | rows x K     |   T | rows GMAC/s | packed GMAC/s | packed / rows | packed weight GB/s |\n");
  std::printf("|------|--------------|-----|-------------|---------------|---------------|--------------------|\n");
  std::mt19937 rng(7);
  struct Shape { int64_t rows, K; };
  const Shape shapes[] = {{2048, 768}, {768, 2048}, {8192, 2048}, {32768, 2048}};
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    for (const Shape& s : shapes) {
      const std::vector<uint8_t> w = random_rows(t, s.rows, s.K, rng);
      std::vector<uint8_t> p(packed_bytes(t, s.rows, s.K));
      pack_rows(w.data(), t, s.rows, s.K, 0, (s.rows + 15) / 16, p.data());
      for (int T : {1, 4, 8, 16, 64, 512}) {
        if (s.rows * s.K * T > int64_t{2} << 30 || (s.rows > 8192 && T > 8)) continue;
        std::normal_distribution<float> n(0, 1);
        std::vector<float> x(T * s.K);
        for (auto& v : x) v = n(rng);
        QuantActBuffer buf;
        const QuantAct& a = buf.prepare(act_format(t), s.K, T);
        k.quantize_act(x.data(), s.K, 0, T, a);
        std::vector<float> ref(T * s.rows), y(T * s.rows), yp(T * s.rows);
        k.matmul_q_reference(a, T, w.data(), t, s.K, 0, s.rows, ref.data(), s.rows);
        const int r = T >= 64 ? std::max(1, reps / 4) : reps;
        const double tr = best_seconds(r, [&] { k.matmul_q(a, T, w.data(), t, s.K, 0, s.rows, y.data(), s.rows); });
        double tp = 0;
        if (k.matmul_q_packed) {
          tp = best_seconds(r, [&] { k.matmul_q_packed(a, T, p.data(), t, s.K, s.rows, 0, s.rows, yp.data(), s.rows); });
        }
        double scale = 1e-6, err = 0;
        for (float v : ref) scale = std::max(scale, static_cast<double>(std::fabs(v)));
        for (size_t i = 0; i < ref.size(); ++i) {
          err = std::max(err, std::fabs(y[i] - ref[i]) / scale);
          if (k.matmul_q_packed) err = std::max(err, std::fabs(yp[i] - ref[i]) / scale);
        }
        if (!(err < 1e-5)) {
          std::fprintf(stderr, "%s %ldx%ld T=%d: mismatch against the reference (%g)\n", dtype_name(t),
                       static_cast<long>(s.rows), static_cast<long>(s.K), T, err);
          return 1;
        }
        const double macs = static_cast<double>(s.rows) * s.K * T;
        std::printf("| %-4s | %5ld x %-4ld | %3d | %11.1f | %13.1f | %12.2fx | %18.1f |\n", dtype_name(t),
                    static_cast<long>(s.rows), static_cast<long>(s.K), T, macs / tr / 1e9, tp > 0 ? macs / tp / 1e9 : 0.0,
                    tp > 0 ? tr / tp : 0.0, tp > 0 ? static_cast<double>(p.size()) / tp / 1e9 : 0.0);
      }
    }
  }
  return 0;
}
