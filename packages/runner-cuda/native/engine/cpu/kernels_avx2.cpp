// AVX2 + FMA variant (built with -mavx2 -mfma -mf16c): 16 ymm registers hold a 3x4 tile of
// accumulators plus the operands.
#define IK_KERNEL_NS avx2
#define IK_KERNEL_NAME "avx2"
#define IK_VEC_BYTES 32
#define IK_MR 3
#define IK_NT 4
#include "kernels_impl.inc"
