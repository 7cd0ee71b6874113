// AVX2 + FMA variant (built with -mavx2 -mfma -mf16c): 16 ymm registers hold a 4x3 tile of
// accumulators plus the operands (4x3 measured best of 3x4, 4x2, 6x2, 8x2 for both decode
// bandwidth and prefill GFLOP/s).
#define IK_KERNEL_NS avx2
#define IK_KERNEL_NAME "avx2"
#define IK_VEC_BYTES 32
#define IK_MR 4
#define IK_NT 3
#include "kernels_impl.inc"
