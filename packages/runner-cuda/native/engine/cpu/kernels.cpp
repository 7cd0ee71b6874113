#include "kernels.h"

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
