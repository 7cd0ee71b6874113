// CPU compute kernels, compiled once per instruction set (kernels_impl.inc built as
// kernels_generic.cpp / kernels_avx2.cpp / kernels_avx512.cpp with different flags) and picked
// at run time, so the default build stays portable (no -march=native) yet uses AVX2/AVX-512
// where the machine has them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../tensor.h"
#include "quant_blocks.h"

namespace inferkit {
namespace cpu {

struct Kernels {
  const char* name;  // "avx512", "avx2", "generic"

  // y[t * ldy + r] = sum_k x[t * ldx + k] * w[r, k] for rows r in [r0, r1) and t in [0, T).
  // w is row-major [rows, K] in `wtype`; F16/BF16 rows are converted tile by tile into
  // `scratch` (at least kScratchFloats floats). Accumulation is f32.
  void (*matmul)(const float* x, int64_t ldx, int T, const void* w, DType wtype, int64_t K,
                 int64_t r0, int64_t r1, float* y, int64_t ldy, float* scratch);

  float (*dot)(const float* a, const float* b, int64_t n);
  // y += a * x
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // Widens n values of any weight type (dequantizes block types; n a multiple of the block).
  void (*convert_row)(const void* src, DType type, float* dst, int64_t n);

  // Attention for the nq query heads that share one KV head, over `len` cached positions (one
  // KV cache block's run of them: rows are ld_scores / ld_p apart).
  //   scores[r * ld_scores + j] = scale * sum_d q[r * D + d] * kt[d * d_stride + j]   (attn_scores)
  //   out[r * D + d] (+)= sum_j p[r * ld_p + j] * v[j * kv_stride + d]             (attn_values;
  //   added to out when accumulate)
  // K comes transposed (one row of positions per dimension), so scores are accumulated as
  // outer products over contiguous positions, shared by the group's heads, with no horizontal
  // sums. The output row is accumulated in registers across all positions.
  void (*attn_scores)(const float* q, int nq, int D, const float* kt, int64_t d_stride, int len,
                      float scale, float* scores, int64_t ld_scores);
  void (*attn_values)(const float* p, int64_t ld_p, int nq, int len, const float* v,
                      int64_t kv_stride, int D, float* out, bool accumulate);

  // g[i] = g[i] / (1 + exp(-g[i])) * u[i] (SwiGLU), and x = softmax(x) in place (n >= 1), with a
  // vectorized exp within 2 ulp of std::exp.
  void (*silu_mul)(float* g, const float* u, int64_t n);
  void (*softmax)(float* x, int64_t n);

  // Quantized weights (quant_blocks.h). quantize_act writes rows [t0, t1) of x ([*, K], row
  // stride ldx) into `a` in a.format, with llama.cpp's values (identical in every variant).
  void (*quantize_act)(const float* x, int64_t ldx, int t0, int t1, const QuantAct& a);
  // y[t * ldy + r] = w[r, :] . a[t, :] for rows r in [r0, r1) and t in [0, T): w row-major
  // [rows, K] in a block type whose act_format() is a.format. Accumulation as llama.cpp's.
  void (*matmul_q)(const QuantAct& a, int T, const void* w, DType wtype, int64_t K, int64_t r0,
                   int64_t r1, float* y, int64_t ldy);
  // The plain scalar loop of the same product (tests compare every variant against it).
  void (*matmul_q_reference)(const QuantAct& a, int T, const void* w, DType wtype, int64_t K,
                             int64_t r0, int64_t r1, float* y, int64_t ldy);
  // matmul_q over a matrix of `rows` rows in the packed 16-row layout (quant_blocks.h,
  // pack_rows; a packable() type), the same values up to float summation order. nullptr in the
  // variants without multi-row kernels (all but avx512vnni): they keep the ggml rows.
  void (*matmul_q_packed)(const QuantAct& a, int T, const void* w, DType wtype, int64_t K,
                          int64_t rows, int64_t r0, int64_t r1, float* y, int64_t ldy);
};

// Floats of per-thread scratch matmul() may use for converting a tile of weight rows.
constexpr int64_t kTileRows = 16;
inline int64_t matmul_scratch_floats(int64_t K) { return kTileRows * K; }

// The best kernel set this CPU supports ("avx512vnni", "avx512", "avx2" or "generic"), or the
// one the environment variable INFERKIT_CPU_KERNELS names when this CPU and build have it.
const Kernels& best_kernels();
// A specific set by name, or nullptr if it was not compiled or the CPU lacks it (tests compare
// every available set against "generic").
const Kernels* kernels_by_name(const char* name);

float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
uint16_t f32_to_bf16(float f);

}  // namespace cpu
}  // namespace inferkit
