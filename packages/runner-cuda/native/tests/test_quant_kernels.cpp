// Quantized-weight kernels: activation quantization against llama.cpp's formulas (written out
// here), each variant's SIMD matmul against the scalar kernel, and the scalar kernel against
// dequantize-then-multiply in double precision.
#include <cmath>
#include <cstring>
#include <random>

#include "cpu/kernels.h"
#include "kernel_variants.h"
#include "test_harness.h"

using namespace inferkit;
using namespace inferkit::cpu;

namespace {

const DType kTypes[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Random but valid blocks: every bit pattern of the quantized values and packed scales, with
// small finite f16 super-block scales.
std::vector<uint8_t> random_rows(DType t, int rows, int64_t K, std::mt19937& rng) {
  const size_t rb = dtype_row_bytes(t, K);
  std::vector<uint8_t> w(rb * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const size_t bb = dtype_block_bytes(t);
  for (size_t off = 0; off < w.size(); off += bb) {
    const uint16_t d = f32_to_f16(scale(rng)), dmin = f32_to_f16(scale(rng));
    if (t == DType::kQ6_K) {
      std::memcpy(&w[off + 208], &d, 2);
    } else {
      std::memcpy(&w[off], &d, 2);
      if (t == DType::kQ4_K || t == DType::kQ5_K) std::memcpy(&w[off + 2], &dmin, 2);
    }
  }
  return w;
}

struct Act {
  QuantActBuffer buffer;
  QuantAct a;
  Act(ActFormat f, int64_t K, int T) { a = buffer.prepare(f, K, T); }
};

double rel_err(double got, double want, double scale) { return std::fabs(got - want) / scale; }

}  // namespace

TEST(quantize_act_matches_llama_cpp_formulas) {
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0, 1);
  const int64_t K = 512;
  const int T = 3;
  std::vector<float> x(T * K);
  for (auto& v : x) v = n(rng);
  for (int j = 0; j < 256; ++j) x[K + j] = 0;  // an all-zero Q8_K super-block in row 1
  x[2 * K + 5] = -9.0f;                         // a negative extreme (sets the Q8_K sign)
  for (const Kernels* k : available_kernels()) {
    Act a0(ActFormat::kQ8_0, K, T), ak(ActFormat::kQ8_K, K, T);
    k->quantize_act(x.data(), K, 0, T, a0.a);
    k->quantize_act(x.data(), K, 0, T, ak.a);
    for (int t = 0; t < T; ++t) {
      for (int b = 0; b < K / 32; ++b) {
        // quantize_row_q8_0 (x86): d = amax / 127 as f16; q = round-half-even(x * 127 / amax).
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[t * K + b * 32 + j]));
        CHECK_EQ(a0.a.d[t * (K / 32) + b], f16_to_f32(f32_to_f16(amax / 127.f)));
        const float id = amax != 0 ? 127.f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
          const int q = static_cast<int>(std::nearbyint(x[t * K + b * 32 + j] * id));
          CHECK_EQ(static_cast<int>(a0.a.qs[t * K + b * 32 + j]), q);
          sum += q;
        }
        CHECK_EQ(static_cast<int>(a0.a.sums[t * (K / 32) + b]), sum);
        // The VNNI kernel's forms: -128 x 4-value sums, block scales spread over 8 lanes.
        for (int j = 0; j < 8; ++j) {
          int s4 = 0;
          for (int i = 0; i < 4; ++i) s4 += a0.a.qs[t * K + b * 32 + 4 * j + i];
          CHECK_EQ(a0.a.corr[t * (K / 4) + b * 8 + j], -128 * s4);
          CHECK_EQ(a0.a.dvec[t * (K / 64) * 16 + (b / 2) * 16 + (b % 2) * 8 + j], a0.a.d[t * (K / 32) + b]);
        }
      }
      for (int b = 0; b < K / 256; ++b) {
        // quantize_row_q8_K_ref: iscale = -127 / max (max = the signed value of largest |x|).
        float amax = 0, mx = 0;
        for (int j = 0; j < 256; ++j) {
          const float v = x[t * K + b * 256 + j];
          if (std::fabs(v) > amax) amax = std::fabs(v), mx = v;
        }
        if (amax == 0) {
          CHECK_EQ(ak.a.d[t * (K / 256) + b], 0.0f);
          continue;
        }
        const float iscale = -127.f / mx;
        CHECK_EQ(ak.a.d[t * (K / 256) + b], 1 / iscale);
        for (int j = 0; j < 256; ++j) {
          const int q = std::min(127, static_cast<int>(std::nearbyint(iscale * x[t * K + b * 256 + j])));
          CHECK_EQ(static_cast<int>(ak.a.qs[t * K + b * 256 + j]), q);
        }
        for (int j = 0; j < 16; ++j) {
          int s = 0;
          for (int i = 0; i < 16; ++i) s += ak.a.qs[t * K + b * 256 + j * 16 + i];
          CHECK_EQ(static_cast<int>(ak.a.sums[t * (K / 16) + b * 16 + j]), s);
        }
      }
    }
    CHECK(ak.a.d[2 * (K / 256)] > 0);  // max = -9: the scale's sign follows it
  }
}

TEST(quantize_act_variants_agree_bit_for_bit) {
  // Every array of every variant equals the generic (scalar) one: K = 800 leaves a Q8_0 row's
  // last 32 values outside the 64-value steps; ties of |x| with opposite signs must pick the first.
  std::mt19937 rng(17);
  std::normal_distribution<float> n(0, 1);
  const Kernels& g = *kernels_by_name("generic");
  for (ActFormat f : {ActFormat::kQ8_0, ActFormat::kQ8_K}) {
    const int64_t K = f == ActFormat::kQ8_0 ? 800 : 512;
    const int T = 5;
    std::vector<float> x(T * K);
    for (auto& v : x) v = n(rng);
    x[K + 10] = 7.5f, x[K + 200] = -7.5f;      // row 1: +max first
    x[2 * K + 3] = -6.0f, x[2 * K + 100] = 6.0f;  // row 2: -max first
    for (int j = 0; j < 32; ++j) x[3 * K + j] = 0;  // a zero block
    Act want(f, K, T);
    g.quantize_act(x.data(), K, 0, T, want.a);
    for (const Kernels* k : available_kernels()) {
      Act got(f, K, T);
      k->quantize_act(x.data(), K, 0, T, got.a);
      const int64_t blk = f == ActFormat::kQ8_0 ? 32 : 256, per_sum = f == ActFormat::kQ8_0 ? 32 : 16;
      CHECK(std::memcmp(got.a.qs, want.a.qs, T * K) == 0);
      CHECK(std::memcmp(got.a.d, want.a.d, T * (K / blk) * sizeof(float)) == 0);
      CHECK(std::memcmp(got.a.sums, want.a.sums, T * (K / per_sum) * sizeof(int16_t)) == 0);
      if (f == ActFormat::kQ8_0) {
        CHECK(std::memcmp(got.a.corr, want.a.corr, T * (K / 4) * sizeof(int32_t)) == 0);
        CHECK(std::memcmp(got.a.dvec, want.a.dvec, T * (K / 64) * 16 * sizeof(float)) == 0);
      }
    }
  }
}

TEST(quantized_matmul_variants_match_the_scalar_kernel) {
  std::mt19937 rng(12);
  std::normal_distribution<float> n(0, 1);
  for (DType t : kTypes) {
    const ActFormat f = act_format(t);
    const std::vector<int64_t> ks = f == ActFormat::kQ8_0 ? std::vector<int64_t>{32, 96, 256, 800}
                                                          : std::vector<int64_t>{256, 768};
    for (int64_t K : ks) {
      const int rows = 37;
      const std::vector<uint8_t> w = random_rows(t, rows, K, rng);
      for (int T : {1, 2, 3, 4, 5, 8, 9, 15, 16, 23, 40}) {
        std::vector<float> x(T * K);
        for (auto& v : x) v = n(rng);
        Act a(f, K, T);
        available_kernels()[0]->quantize_act(x.data(), K, 0, T, a.a);
        std::vector<float> ref(T * rows);
        available_kernels()[0]->matmul_q_reference(a.a, T, w.data(), t, K, 0, rows, ref.data(), rows);
        double scale = 1e-6;
        for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
        for (const Kernels* k : available_kernels()) {
          std::vector<float> y(T * rows, -999.0f);
          // Two row ranges, like two threads splitting the output.
          k->matmul_q(a.a, T, w.data(), t, K, 0, 6, y.data(), rows);
          k->matmul_q(a.a, T, w.data(), t, K, 6, rows, y.data(), rows);
          double e = 0;
          for (size_t i = 0; i < y.size(); ++i) e = std::max(e, rel_err(y[i], ref[i], scale));
          if (!(e < 1e-5)) std::fprintf(stderr, "%s %s K=%ld T=%d: rel err %g\n", k->name, dtype_name(t), static_cast<long>(K), T, e);
          CHECK(e < 1e-5);
        }
      }
    }
  }
}

TEST(packed_rows_unpack_to_the_same_bytes) {
  std::mt19937 rng(15);
  for (DType t : kTypes) {
    if (!packable(t)) continue;
    for (int rows : {16, 37}) {
      const int64_t K = 512;
      const std::vector<uint8_t> w = random_rows(t, rows, K, rng);
      std::vector<uint8_t> p(packed_bytes(t, rows, K));
      // In two calls, like the backend's threads: groups [0, 1) and [1, end) with the tail.
      pack_rows(w.data(), t, rows, K, 0, 1, p.data());
      pack_rows(w.data(), t, rows, K, 1, (rows + 15) / 16, p.data());
      const size_t rb = dtype_row_bytes(t, K);
      std::vector<uint8_t> row(rb);
      for (int r = 0; r < rows; ++r) {
        unpack_row(p.data(), t, rows, K, r, row.data());
        CHECK(std::memcmp(row.data(), w.data() + r * rb, rb) == 0);
      }
    }
  }
  // The packed copy takes exactly the file's bytes.
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    CHECK(packed_bytes(t, 16, 512) == 16 * dtype_row_bytes(t, 512));
    CHECK(packed_bytes(t, 37, 512) == 37 * dtype_row_bytes(t, 512));
  }
  CHECK(!packable(DType::kQ4_0) && !packable(DType::kQ5_K));
}

TEST(packed_matmul_matches_the_scalar_kernel) {
  // Every token count through the 8-token multi-row kernel and its 1..7 tails, several token
  // blocks (K = 4096: 56 tokens a block), row ranges that cut groups and reach into the tail rows.
  std::mt19937 rng(16);
  std::normal_distribution<float> n(0, 1);
  int variants = 0;
  for (const Kernels* k : available_kernels()) {
    if (!k->matmul_q_packed) continue;
    ++variants;
    for (DType t : kTypes) {
      if (!packable(t)) continue;
      const ActFormat f = act_format(t);
      for (int64_t K : {static_cast<int64_t>(f == ActFormat::kQ8_0 ? 96 : 256), int64_t{768}, int64_t{4096}}) {
        for (int rows : {16, 37, 48}) {
          const std::vector<uint8_t> w = random_rows(t, rows, K, rng);
          std::vector<uint8_t> p(packed_bytes(t, rows, K));
          pack_rows(w.data(), t, rows, K, 0, (rows + 15) / 16, p.data());
          for (int T : {1, 3, 4, 7, 8, 9, 15, 16, 23, 40, 61}) {
            if (K == 4096 && T < 40) continue;
            std::vector<float> x(T * K);
            for (auto& v : x) v = n(rng);
            Act a(f, K, T);
            k->quantize_act(x.data(), K, 0, T, a.a);
            std::vector<float> ref(T * rows);
            k->matmul_q_reference(a.a, T, w.data(), t, K, 0, rows, ref.data(), rows);
            double scale = 1e-6;
            for (float r : ref) scale = std::max(scale, static_cast<double>(std::fabs(r)));
            for (int cut : {16, 7, rows - 3}) {
              std::vector<float> y(T * rows, -999.0f);
              k->matmul_q_packed(a.a, T, p.data(), t, K, rows, 0, cut, y.data(), rows);
              k->matmul_q_packed(a.a, T, p.data(), t, K, rows, cut, rows, y.data(), rows);
              double e = 0;
              for (size_t i = 0; i < y.size(); ++i) e = std::max(e, rel_err(y[i], ref[i], scale));
              if (!(e < 1e-5)) {
                std::fprintf(stderr, "%s packed %s K=%ld rows=%d T=%d cut=%d: rel err %g\n", k->name, dtype_name(t),
                             static_cast<long>(K), rows, T, cut, e);
              }
              CHECK(e < 1e-5);
            }
          }
        }
      }
    }
  }
  std::printf("packed kernels in %d variant(s)\n", variants);
}

TEST(scalar_quantized_dot_equals_dequantized_product) {
  // The integer formulation (sub-block scales, mins and offsets from the activation sums) is
  // the dequantized weights times the dequantized activations, exactly up to float rounding.
  std::mt19937 rng(13);
  std::normal_distribution<float> n(0, 1);
  const Kernels& g = *kernels_by_name("generic");
  for (DType t : kTypes) {
    const ActFormat f = act_format(t);
    const int64_t K = 512;
    const int rows = 5, T = 3;
    const std::vector<uint8_t> w = random_rows(t, rows, K, rng);
    std::vector<float> x(T * K);
    for (auto& v : x) v = n(rng);
    Act a(f, K, T);
    g.quantize_act(x.data(), K, 0, T, a.a);
    std::vector<float> y(T * rows);
    g.matmul_q(a.a, T, w.data(), t, K, 0, rows, y.data(), rows);
    std::vector<float> wf(K);
    const int64_t blk = f == ActFormat::kQ8_0 ? 32 : 256;
    double worst = 0, worst_vs_f32 = 0;
    for (int r = 0; r < rows; ++r) {
      g.convert_row(w.data() + r * dtype_row_bytes(t, K), t, wf.data(), K);
      for (int tt = 0; tt < T; ++tt) {
        double want = 0, exact = 0, mag = 0;
        for (int64_t i = 0; i < K; ++i) {
          const double xd = static_cast<double>(a.a.d[tt * (K / blk) + i / blk]) * a.a.qs[tt * K + i];
          want += static_cast<double>(wf[i]) * xd;
          exact += static_cast<double>(wf[i]) * x[tt * K + i];
          mag += std::fabs(static_cast<double>(wf[i]) * x[tt * K + i]);
        }
        worst = std::max(worst, std::fabs(y[tt * rows + r] - want) / mag);
        worst_vs_f32 = std::max(worst_vs_f32, std::fabs(y[tt * rows + r] - exact) / mag);
      }
    }
    if (!(worst < 1e-5)) std::fprintf(stderr, "%s: vs dequantized product %g\n", dtype_name(t), worst);
    CHECK(worst < 1e-5);
    // And 8-bit activations cost well under a percent against unquantized ones.
    if (!(worst_vs_f32 < 1e-2)) std::fprintf(stderr, "%s: vs f32 activations %g\n", dtype_name(t), worst_vs_f32);
    CHECK(worst_vs_f32 < 1e-2);
  }
}

TEST(dequantize_rows_agree_across_variants) {
  std::mt19937 rng(14);
  for (DType t : kTypes) {
    const int64_t K = 512;
    const std::vector<uint8_t> w = random_rows(t, 1, K, rng);
    std::vector<float> ref(K);
    kernels_by_name("generic")->convert_row(w.data(), t, ref.data(), K);
    for (const Kernels* k : available_kernels()) {
      std::vector<float> y(K);
      k->convert_row(w.data(), t, y.data(), K);
      CHECK(std::memcmp(y.data(), ref.data(), K * sizeof(float)) == 0);
    }
  }
  // Spot values of the layouts: Q4_0 element 17 is the high nibble of qs[1], minus 8.
  BlockQ4_0 b{};
  b.d = f32_to_f16(0.5f);
  b.qs[1] = 0xA3;  // low 3, high 10
  float y[32];
  kernels_by_name("generic")->convert_row(&b, DType::kQ4_0, y, 32);
  CHECK_EQ(y[1], 0.5f * (3 - 8));
  CHECK_EQ(y[17], 0.5f * (10 - 8));
}

TEST_MAIN()
