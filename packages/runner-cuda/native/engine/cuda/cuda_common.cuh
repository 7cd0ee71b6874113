// Shared device helpers for the CUDA backend's kernels: dtype conversion, 16-byte vector
// loads, warp reductions, and the host-side error record that CUDA_CHECK fills in.
#pragma once

#include <cuda_bf16.h>   // defines: __nv_bfloat16, __bfloat162float, __float2bfloat16
#include <cuda_fp16.h>   // defines: __half, __half2float, __float2half
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

namespace inferkit {
namespace cuda {

// ---------------------------------------------------------------------------------------------
// Programmatic dependent launch (Hopper): a kernel launched with launch_k() may be scheduled
// while the previous kernel in the stream is still finishing. Every such kernel calls
// pdl_wait() before it touches memory an earlier kernel wrote (or reads), and pdl_trigger() to
// let the next kernel be scheduled early. Before sm_90, or when disabled, both are no-ops and
// launches are ordinary. The matrix-vector kernel issues its first weight loads (immutable data)
// before pdl_wait(), which is what hides one kernel's start-up behind the previous one's tail.

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Process-wide switch, set by the backend at load (device compute capability >= 9.0 and
// INFERKIT_CUDA_PDL != 0).
inline bool& pdl_enabled() {
  static bool on = false;
  return on;
}

// Process-wide switch, set by the backend at load from INFERKIT_CUDA_EXPERIMENTAL=1: kernels
// that compiled in CI but have not yet passed the GPU harness (tools/gpu-check.sh) run only
// when it is on, so the harness can check and time them next to the proven ones in one run.
inline bool& experimental_kernels() {
  static bool on = false;
  return on;
}

template <typename... KArgs, typename... Args>
cudaError_t launch_k(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                     cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

using bf16 = __nv_bfloat16;
using f16 = __half;

// ---------------------------------------------------------------------------------------------
// Scalar conversion. Every kernel computes in f32; storage types convert at the load/store.

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(f16 v) { return __half2float(v); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ f16 from_f32<f16>(float v) { return __float2half(v); }

// ---------------------------------------------------------------------------------------------
// 16-byte vectors: one load instruction per thread is what lets a warp keep enough bytes in
// flight to approach HBM bandwidth. kVec<T> elements of T fit in one uint4.

template <typename T> struct VecWidth { static constexpr int value = 16 / sizeof(T); };
template <typename T> inline constexpr int kVec = VecWidth<T>::value;

// Unpacks one 16-byte vector of T into kVec<T> floats.
template <typename T>
__device__ __forceinline__ void unpack16(const uint4& raw, float* out) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) out[i] = to_f32(e[i]);
}

// Packs kVec<T> floats into one 16-byte vector of T.
template <typename T>
__device__ __forceinline__ uint4 pack16(const float* in) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < kVec<T>; ++i) e[i] = from_f32<T>(in[i]);
  return raw;
}

// Streaming load for weights: read once per step, so don't let them evict activations from L1.
__device__ __forceinline__ uint4 ld_stream16(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Reductions.

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum; every thread gets the result. `scratch` holds at least 32 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// Host-side error record. Kernel launchers return cudaError_t (cudaGetLastError() after the
// launch); the backend funnels every runtime call through CUDA_CHECK, which keeps the first
// failure's statement, file and line and whether it was sticky (the context is then unusable
// until the device is reset).

struct CudaErrorRecord {
  cudaError_t code = cudaSuccess;
  const char* expr = nullptr;
  const char* file = nullptr;
  int line = 0;
  bool sticky = false;
};

// Errors after which the CUDA context refuses all further work (the runtime documents these as
// leaving "the process in an inconsistent state").
inline bool is_sticky_error(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorUnknown:
      return true;
    default:
      return false;
  }
}

}  // namespace cuda
}  // namespace inferkit
