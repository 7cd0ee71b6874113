// AVX-512F variant (built with -mavx512f -mavx512vl -mavx512bw -mavx2 -mfma -mf16c): 32 zmm
// registers hold a 4x4 tile of accumulators plus the operands.
#define IK_KERNEL_NS avx512
#define IK_KERNEL_NAME "avx512"
#define IK_VEC_BYTES 64
#define IK_MR 4
#define IK_NT 4
#include "kernels_impl.inc"
