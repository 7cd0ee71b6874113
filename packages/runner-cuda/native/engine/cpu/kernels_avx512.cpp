// AVX-512F variant (built with -mavx512f -mavx512vl -mavx512bw -mavx2 -mfma -mf16c): an 8x4
// tile of accumulators. Eight weight rows in flight per token group read memory ~15% faster in
// decode than 4x4 (more streams for the prefetchers), at the same prefill GFLOP/s.
#define IK_KERNEL_NS avx512
#define IK_KERNEL_NAME "avx512"
#define IK_VEC_BYTES 64
#define IK_MR 8
#define IK_NT 4
#include "kernels_impl.inc"
