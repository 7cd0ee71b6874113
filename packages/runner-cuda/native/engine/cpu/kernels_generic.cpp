// Baseline variant: 16-byte vectors (SSE2 on x86-64, NEON on arm64), built with default flags.
#define IK_KERNEL_NS generic
#define IK_KERNEL_NAME "generic"
#define IK_VEC_BYTES 16
#define IK_MR 4
#define IK_NT 2
#include "kernels_impl.inc"
