// AVX-512 + VNNI variant (the avx512 flags plus -mavx512vnni): the float kernels are the
// avx512 ones; the quantized matmuls fold the int16 scale multiply and the int32 accumulate of
// the k-quant and Q8_0 dot products into one vpdpwssd.
#define IK_KERNEL_NS avx512vnni
#define IK_KERNEL_NAME "avx512vnni"
#define IK_VEC_BYTES 64
#define IK_MR 8
#define IK_NT 4
#include "kernels_impl.inc"
