#include "kernels.h"

#include <cstdlib>
#include <cstring>

namespace inferkit {
namespace cpu {

namespace generic { extern const Kernels kKernels; }
#if defined(INFERKIT_KERNELS_AVX2)
namespace avx2 { extern const Kernels kKernels; }
#endif
#if defined(INFERKIT_KERNELS_AVX512)
namespace avx512 { extern const Kernels kKernels; }
namespace avx512vnni { extern const Kernels kKernels; }
#endif

namespace {

bool cpu_has(const char* name) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::strcmp(name, "avx2") == 0) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
  }
  if (std::strcmp(name, "avx512") == 0) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }
  if (std::strcmp(name, "avx512vnni") == 0) return cpu_has("avx512") && __builtin_cpu_supports("avx512vnni");
#endif
  return std::strcmp(name, "generic") == 0;
}

}  // namespace

const Kernels* kernels_by_name(const char* name) {
  if (std::strcmp(name, "generic") == 0) return &generic::kKernels;
#if defined(INFERKIT_KERNELS_AVX2)
  if (std::strcmp(name, "avx2") == 0 && cpu_has("avx2")) return &avx2::kKernels;
#endif
#if defined(INFERKIT_KERNELS_AVX512)
  if (std::strcmp(name, "avx512") == 0 && cpu_has("avx512")) return &avx512::kKernels;
  if (std::strcmp(name, "avx512vnni") == 0 && cpu_has("avx512vnni")) return &avx512vnni::kKernels;
#endif
  return nullptr;
}

const Kernels& best_kernels() {
  static const Kernels* best = [] {
    // INFERKIT_CPU_KERNELS=generic|avx2|avx512|avx512vnni runs a fallback set on a machine that
    // has a better one (the engine tests and benches of those paths); unknown or unsupported
    // names are ignored.
    if (const char* forced = std::getenv("INFERKIT_CPU_KERNELS")) {
      if (const Kernels* k = kernels_by_name(forced)) return k;
    }
    for (const char* n : {"avx512vnni", "avx512", "avx2"}) {
      if (const Kernels* k = kernels_by_name(n)) return k;
    }
    return &generic::kKernels;
  }();
  return *best;
}

const QuantAct& QuantActBuffer::prepare(ActFormat format, int64_t K, int rows) {
  const bool q8_0 = format == ActFormat::kQ8_0;
  const size_t n = static_cast<size_t>(rows);
  auto fit = [](auto& v, size_t size) {
    if (v.size() < size) v.resize(size);
  };
  fit(qs_, static_cast<size_t>(K) * n);
  fit(d_, static_cast<size_t>(K / (q8_0 ? kQK : kQKK)) * n);
  fit(sums_, static_cast<size_t>(K / (q8_0 ? kQK : 16)) * n);
  if (q8_0) {
    fit(corr_, static_cast<size_t>(K / 4) * n);
    fit(dvec_, static_cast<size_t>(K / 64) * 16 * n);
  }
  act_.format = format;
  act_.K = K;
  act_.qs = qs_.data();
  act_.d = d_.data();
  act_.sums = sums_.data();
  act_.corr = q8_0 ? corr_.data() : nullptr;
  act_.dvec = q8_0 ? dvec_.data() : nullptr;
  return act_;
}

// ------------------------------------------------------------------ packed 16-row groups

namespace {

size_t packed_group_bytes(DType t, int64_t K) {
  switch (t) {
    case DType::kQ8_0: return static_cast<size_t>(K / kQK) * kPackedQ8_0Bytes;
    case DType::kQ4_K: return static_cast<size_t>(K / kQKK) * kPackedQ4_KBytes;
    case DType::kQ6_K: return static_cast<size_t>(K / kQKK) * kPackedQ6_KBytes;
    default: return 0;
  }
}

// One Q6_K super-block's 256 6-bit values (0..63) in order (dequantize_row's bit positions).
void decode_q6_k(const BlockQ6_K& b, uint8_t q[256]) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      q[128 * h + l] = static_cast<uint8_t>((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4));
      q[128 * h + l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
      q[128 * h + l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      q[128 * h + l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

void encode_q6_k(const uint8_t q[256], BlockQ6_K* b) {
  for (int h = 0; h < 2; ++h) {
    uint8_t* ql = b->ql + 64 * h;
    uint8_t* qh = b->qh + 32 * h;
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = q + 128 * h + l;
      ql[l] = static_cast<uint8_t>((v[0] & 15) | ((v[64] & 15) << 4));
      ql[l + 32] = static_cast<uint8_t>((v[32] & 15) | ((v[96] & 15) << 4));
      qh[l] = static_cast<uint8_t>((v[0] >> 4) | ((v[32] >> 4) << 2) | ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6));
    }
  }
}

// Byte [i][r][j] of a [..][16][4] array: value 4i + j of row r.
inline size_t lane(int i, int r, int j) { return static_cast<size_t>(i) * 64 + static_cast<size_t>(r) * 4 + j; }

// Packed Q6_K: offsets of chunk c's vector i of low bits and of the vector with its top bits.
inline size_t q6_ql(int c, int i) { return 288 + 768 * c + 192 * (i / 2) + 64 * (i % 2); }
inline size_t q6_qh(int c, int i) { return 288 + 768 * c + 192 * (i / 2) + 128; }

// Block b (Q8_0: 32 values; k-quants: 256) of the 16 rows `row[r]` into `out`, and back.
void pack_block(DType t, const uint8_t* const row[kPackRows], int64_t b, uint8_t* out) {
  if (t == DType::kQ8_0) {
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ8_0& w = reinterpret_cast<const BlockQ8_0*>(row[r])[b];
      std::memcpy(out + 2 * r, &w.d, 2);
      for (int i = 0; i < 8; ++i) {  // 4 values at a time, + 128 (the sign bit flipped)
        uint32_t v;
        std::memcpy(&v, w.qs + 4 * i, 4);
        v ^= 0x80808080u;
        std::memcpy(out + 32 + lane(i, r, 0), &v, 4);
      }
    }
  } else if (t == DType::kQ4_K) {
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ4_K& w = reinterpret_cast<const BlockQ4_K*>(row[r])[b];
      std::memcpy(out + 2 * r, &w.d, 2);
      std::memcpy(out + 32 + 2 * r, &w.dmin, 2);
      for (int i = 0; i < 12; ++i) out[64 + 16 * i + r] = w.scales[i];
      // ggml's byte qs[32c + l] holds values 64c + l (low nibble) and 64c + 32 + l (high): the
      // packed nibble pairs, so bytes move 4 at a time.
      for (int c = 0; c < 4; ++c) {
        for (int i = 0; i < 8; ++i) std::memcpy(out + 256 + 512 * c + lane(i, r, 0), w.qs + 32 * c + 4 * i, 4);
      }
    }
  } else {  // Q6_K
    for (int r = 0; r < kPackRows; ++r) {
      const BlockQ6_K& w = reinterpret_cast<const BlockQ6_K*>(row[r])[b];
      uint8_t q[256];
      decode_q6_k(w, q);
      std::memcpy(out + 2 * r, &w.d, 2);
      for (int s = 0; s < 16; ++s) out[32 + 16 * s + r] = static_cast<uint8_t>(w.scales[s]);
      for (int c = 0; c < 4; ++c) {
        for (int k = 0; k < 32; ++k) {
          const int i = k / 4, j = k % 4;
          const uint8_t lo = q[64 * c + k], hi = q[64 * c + 32 + k];
          out[q6_ql(c, i) + r * 4 + j] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
          uint8_t& h = out[q6_qh(c, i) + r * 4 + j];
          const int at = i % 2 ? 0 : 4;  // even i: bits 4-7, odd: 0-3 (low value's, then high value's)
          h = static_cast<uint8_t>(h | ((lo >> 4) << at) | ((hi >> 4) << (at + 2)));
        }
      }
    }
  }
}

void unpack_block(DType t, const uint8_t* in, int r, int64_t b, uint8_t* row) {
  if (t == DType::kQ8_0) {
    BlockQ8_0& w = reinterpret_cast<BlockQ8_0*>(row)[b];
    std::memcpy(&w.d, in + 2 * r, 2);
    for (int i = 0; i < 8; ++i) {
      uint32_t v;
      std::memcpy(&v, in + 32 + lane(i, r, 0), 4);
      v ^= 0x80808080u;
      std::memcpy(w.qs + 4 * i, &v, 4);
    }
  } else if (t == DType::kQ4_K) {
    BlockQ4_K& w = reinterpret_cast<BlockQ4_K*>(row)[b];
    std::memcpy(&w.d, in + 2 * r, 2);
    std::memcpy(&w.dmin, in + 32 + 2 * r, 2);
    for (int i = 0; i < 12; ++i) w.scales[i] = in[64 + 16 * i + r];
    for (int c = 0; c < 4; ++c) {
      for (int i = 0; i < 8; ++i) std::memcpy(w.qs + 32 * c + 4 * i, in + 256 + 512 * c + lane(i, r, 0), 4);
    }
  } else {
    BlockQ6_K& w = reinterpret_cast<BlockQ6_K*>(row)[b];
    uint8_t q[256];
    std::memcpy(&w.d, in + 2 * r, 2);
    for (int s = 0; s < 16; ++s) w.scales[s] = static_cast<int8_t>(in[32 + 16 * s + r]);
    for (int c = 0; c < 4; ++c) {
      for (int k = 0; k < 32; ++k) {
        const int i = k / 4, j = k % 4;
        const uint8_t l = in[q6_ql(c, i) + r * 4 + j], h = in[q6_qh(c, i) + r * 4 + j];
        const int at = i % 2 ? 0 : 4;
        q[64 * c + k] = static_cast<uint8_t>((l & 15) | (((h >> at) & 3) << 4));
        q[64 * c + 32 + k] = static_cast<uint8_t>((l >> 4) | (((h >> (at + 2)) & 3) << 4));
      }
    }
    encode_q6_k(q, &w);
  }
}

}  // namespace

bool packable(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_K || t == DType::kQ6_K; }

size_t packed_bytes(DType t, int64_t rows, int64_t K) {
  const int64_t groups = rows / kPackRows;
  return static_cast<size_t>(groups) * packed_group_bytes(t, K) +
         static_cast<size_t>(rows - groups * kPackRows) * dtype_row_bytes(t, K);
}

void pack_rows(const void* src, DType t, int64_t rows, int64_t K, int64_t g0, int64_t g1, void* dst) {
  const size_t rb = dtype_row_bytes(t, K), gb = packed_group_bytes(t, K);
  const size_t bb = gb / static_cast<size_t>(K / dtype_block_values(t));
  const int64_t full = rows / kPackRows;
  const uint8_t* s = static_cast<const uint8_t*>(src);
  uint8_t* d = static_cast<uint8_t*>(dst);
  for (int64_t g = g0; g < g1 && g < full; ++g) {
    const uint8_t* row[kPackRows];
    for (int r = 0; r < kPackRows; ++r) row[r] = s + (g * kPackRows + r) * rb;
    uint8_t* out = d + g * gb;
    std::memset(out, 0, gb);
    for (int64_t b = 0; b < K / static_cast<int64_t>(dtype_block_values(t)); ++b) pack_block(t, row, b, out + b * bb);
  }
  if (g1 > full) {  // the tail rows, as they are
    std::memcpy(d + full * gb, s + full * kPackRows * rb, (rows - full * kPackRows) * rb);
  }
}

void unpack_row(const void* packed, DType t, int64_t rows, int64_t K, int64_t r, void* dst) {
  const size_t rb = dtype_row_bytes(t, K), gb = packed_group_bytes(t, K);
  const size_t bb = gb / static_cast<size_t>(K / dtype_block_values(t));
  const int64_t full = rows / kPackRows;
  const uint8_t* p = static_cast<const uint8_t*>(packed);
  if (r >= full * kPackRows) {
    std::memcpy(dst, p + full * gb + (r - full * kPackRows) * rb, rb);
    return;
  }
  const uint8_t* g = p + (r / kPackRows) * gb;
  for (int64_t b = 0; b < K / static_cast<int64_t>(dtype_block_values(t)); ++b) {
    unpack_block(t, g + b * bb, static_cast<int>(r % kPackRows), b, static_cast<uint8_t*>(dst));
  }
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      // Subnormal: normalise the mantissa.
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while ((m & 0x400) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((m & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFF)) return 0x7FC0;  // NaN
  bits += 0x7FFF + ((bits >> 16) & 1);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t exp = (x >> 23) & 0xFF;
  uint32_t mant = x & 0x7FFFFF;
  if (exp == 0xFF) return sign | 0x7C00 | (mant ? 0x200 : 0);
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 0x1F) return sign | 0x7C00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const int shift = 14 - e;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into the exponent
  return sign | static_cast<uint16_t>(half);
}

}  // namespace cpu
}  // namespace inferkit
