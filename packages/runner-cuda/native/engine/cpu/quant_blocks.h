// ggml's block-quantized weight layouts (llama.cpp ggml/src/ggml-common.h), read in place from
// the mmapped GGUF file, and the 8-bit activation rows the quantized matmuls multiply them with.
//
// Weights (values = dequantized weights; f16 = IEEE half):
//   Q8_0  34 B / 32 values:  f16 d; int8 qs[32]                       w = d * qs[j]
//   Q4_0  18 B / 32:         f16 d; uint8 qs[16]                      w[j] = d * ((qs[j] & 15) - 8),
//                                                                      w[j + 16] = d * ((qs[j] >> 4) - 8)
//   Q4_K 144 B / 256:        f16 d, dmin; uint8 scales[12]; uint8 qs[128]
//                            8 sub-blocks of 32 with 6-bit scale sc and min m (get_scale_min_k4);
//                            64-value chunk c: low nibbles of qs[32c..32c+32) are sub-block 2c,
//                            high nibbles 2c + 1; w = d * sc * q - dmin * m
//   Q5_K 176 B / 256:        f16 d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
//                            Q4_K plus a fifth bit: bit 2c (low) / 2c + 1 (high) of qh[l]
//   Q6_K 210 B / 256:        uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d
//                            16 sub-blocks of 16; w = d * scales[i / 16] * (q - 32), q 6-bit
//                            (see dequantize in kernels_quant.inc for the bit positions)
//
// Activations follow llama.cpp's vec_dot types: Q8_0 rows (blocks of 32, scale amax / 127
// rounded to f16) for Q8_0 and Q4_0 weights, Q8_K rows (blocks of 256, f32 scale -max / 127,
// sums of every 16 values) for the k-quants. The values are exactly llama.cpp's; only the
// memory layout is ours: a row's int8 values are contiguous (SIMD loads span blocks), scales
// and sums in arrays beside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../tensor.h"

namespace inferkit {
namespace cpu {

constexpr int kQK = 32;    // Q8_0 / Q4_0 block
constexpr int kQKK = 256;  // k-quant super-block

#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 &&
                  sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210,
              "ggml block sizes");

// Interleaved 16-row groups ("packed"), the layout the AVX-512 VNNI multi-row kernels read
// (kernels_quant.inc): rows [16g, 16g + 16) of a matrix are stored together, block after block,
// so that one 64-byte vector holds 4 consecutive values of each of the 16 rows and a single
// vpdpbusd multiplies them with 4 activations broadcast to every lane (16 dot products in its
// int32 lanes, no horizontal sums). Rows after the last full group keep the ggml row layout,
// after the groups. Only the types below are packed; the size is exactly that of the ggml
// blocks, and the packed copy replaces the file's pages (memory stays the file's). Per block of 16 rows
// (f16 = the ggml scale; "[a][b][c]" = row-major arrays; r = row in the group, j = 0..3):
//   Q8_0  per 32 values, 544 B:  f16 d[16]; uint8 qs[8][16][4] = w[r][4i + j] + 128 (unsigned,
//                                as vpdpbusd wants; the -128 x sum(x) comes from the activations)
//   Q4_K  per 256, 2304 B:       f16 d[16], dmin[16]; uint8 scales[12][16] (byte i of row r's
//                                packed 6-bit scales and mins, decoded 16 rows at a time);
//                                uint8 qs[4][8][16][4]: chunk c, low nibble q[r][64c + 4i + j],
//                                high nibble q[r][64c + 32 + 4i + j] (sub-blocks 2c and 2c + 1)
//   Q6_K  per 256, 3360 B:       f16 d[16]; int8 sc[16][16] (scale of 16-value sub-block s, row r);
//                                then per chunk c and pair u of vectors i = 2u, 2u + 1, in one
//                                stream: ql[i][16][4], ql[i + 1][16][4], qh[16][4] (192 B): ql the
//                                low 4 bits of q, nibbles as Q4_K's; qh their top 2 bits, value
//                                64c + 32h + 4i + j at bits 4 (1 - i % 2) + 2h of byte [r][j], so
//                                even i's sit where the nibble's top bits go (q = 0..63,
//                                w = d * sc * (q - 32))
constexpr int kPackRows = 16;
constexpr size_t kPackedQ8_0Bytes = 544;
constexpr size_t kPackedQ4_KBytes = 2304;
constexpr size_t kPackedQ6_KBytes = 3360;

// Whether pack_rows handles `t`.
bool packable(DType t);
// Bytes of `rows` x `K` in the packed layout (the groups, then the tail rows as ggml rows).
size_t packed_bytes(DType t, int64_t rows, int64_t K);
// Rows [g0 * 16, g1 * 16) of a ggml row-major matrix (src) into the packed layout at dst (the
// whole matrix's buffer, packed_bytes long); g1 = ceil(rows / 16) also copies the tail rows.
void pack_rows(const void* src, DType t, int64_t rows, int64_t K, int64_t g0, int64_t g1, void* dst);
// Row r of a packed matrix back in ggml blocks (dtype_row_bytes(t, K) at dst): the very bytes
// it was packed from.
void unpack_row(const void* packed, DType t, int64_t rows, int64_t K, int64_t r, void* dst);

// The activation format a weight type is multiplied with.
enum class ActFormat { kQ8_0 = 0, kQ8_K };

inline ActFormat act_format(DType w) {
  return (w == DType::kQ8_0 || w == DType::kQ4_0) ? ActFormat::kQ8_0 : ActFormat::kQ8_K;
}

// Quantized activation rows: rows x K values, viewed in storage a QuantActBuffer owns. Row t is
// at qs + t * K, d + t * (K / block), sums + t * (K / 32 or K / 16), and for Q8_0 also
// corr + t * (K / 4) and dvec + t * (K / 64) * 16: what the AVX-512 VNNI kernel wants, derived
// from the same values so it can feed unsigned-times-signed dot products (vpdpbusd).
struct QuantAct {
  ActFormat format = ActFormat::kQ8_0;
  int64_t K = 0;
  int8_t* qs = nullptr;     // [rows][K]
  float* d = nullptr;       // [rows][K / 32] (Q8_0: the f16-rounded scale) or [rows][K / 256]
  int16_t* sums = nullptr;  // [rows][K / 32] Q8_0 block sums, or [rows][K / 16] Q8_K bsums
  int32_t* corr = nullptr;  // Q8_0: [rows][K / 4] -128 x the sum of each 4 consecutive values
  float* dvec = nullptr;    // Q8_0: [rows][K / 64][16] the scales of 2 blocks, 8 lanes each
};

// Owns a QuantAct's arrays, grown on demand (defined in kernels.cpp, the baseline build).
class QuantActBuffer {
 public:
  const QuantAct& prepare(ActFormat format, int64_t K, int rows);

 private:
  std::vector<int8_t> qs_;
  std::vector<float> d_, dvec_;
  std::vector<int16_t> sums_;
  std::vector<int32_t> corr_;
  QuantAct act_;
};

}  // namespace cpu
}  // namespace inferkit
