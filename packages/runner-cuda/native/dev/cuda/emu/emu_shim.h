// Host emulation of the CUDA execution model, for running kernel source text unchanged on the
// CPU (see README.md). Every CUDA thread is an OS thread; the threads of a block meet at a
// block barrier (__syncthreads) and the 32 lanes of a warp meet at a warp barrier for every
// collective (shuffles, reductions, and the kernel-specific ones an emulation adds with
// emu::warp_exchange). Barriers are C++ acquire/release synchronisation, so ThreadSanitizer sees
// exactly the happens-before edges CUDA guarantees. Shared memory is a per-block buffer filled
// with NaN bytes, and cudaMalloc'd memory starts as NaN too, so a read of anything never written
// shows up in the results. Linux only (futex).
#pragma once

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) alignas(n)

using std::max;
using std::min;

// ---------------------------------------------------------------------------------------------
// Vector and storage types.

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) uint4 { uint32_t x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
inline uint4 make_uint4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return {a, b, c, d}; }
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline float2 make_float2(float a, float b) { return {a, b}; }

// 16-bit storage types as their bit patterns; conversions round to nearest even like the
// device intrinsics.
struct __nv_bfloat16 { uint16_t bits; };
struct __half { uint16_t bits; };

inline uint32_t emu_f2u(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float emu_u2f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __uint_as_float(uint32_t u) { return emu_u2f(u); }
inline uint32_t __float_as_uint(float f) { return emu_f2u(f); }

inline float __bfloat162float(__nv_bfloat16 b) { return emu_u2f(static_cast<uint32_t>(b.bits) << 16); }
inline __nv_bfloat16 __float2bfloat16(float f) {
  if (std::isnan(f)) return {0x7fc0};
  uint32_t u = emu_f2u(f);
  u += 0x7fffu + ((u >> 16) & 1u);
  return {static_cast<uint16_t>(u >> 16)};
}
inline float __half2float(__half h) {
  const uint32_t s = (h.bits >> 15) & 1u, e = (h.bits >> 10) & 0x1fu, m = h.bits & 0x3ffu;
  float v;
  if (e == 0) v = std::ldexp(static_cast<float>(m), -24);
  else if (e == 31) v = m ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(m | 0x400u), static_cast<int>(e) - 25);
  return s ? -v : v;
}
inline __half __float2half(float f) {
  // Exact in double: scale to the target's unit in the last place, round half to even.
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return {0x7e00};
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return {static_cast<uint16_t>(sign | 0x7c00)};
  int e = a > 0 ? std::ilogb(a) : -25;
  if (e < -14) e = -14;  // subnormal range: fixed unit 2^-24
  const double q = std::nearbyint(std::ldexp(a, 10 - e));  // default rounding: to nearest even
  uint32_t bits;
  if (e == -14 && q < 1024) bits = static_cast<uint32_t>(q);
  else if (q >= 2048) bits = static_cast<uint32_t>((e + 1 + 15) << 10);  // rounded up to the next binade
  else bits = static_cast<uint32_t>(((e + 15) << 10) | (static_cast<uint32_t>(q) - 1024));
  return {static_cast<uint16_t>(sign | bits)};
}

// ---------------------------------------------------------------------------------------------
// Math intrinsics: the host's correctly rounded (or better) functions.

inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
using std::exp2f;
using std::fmaf;
using std::fmaxf;
using std::fminf;

// ---------------------------------------------------------------------------------------------
// Thread identity.

// Inline definitions: every translation unit sees them constant-initialised, so no TLS wrapper
// function is involved (GCC's UBSan reports those as null-pointer accesses).
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace emu {

inline long futex(std::atomic<uint32_t>* addr, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), op, val, ts, nullptr, 0);
}

// Seconds a barrier may wait before the emulator declares a deadlock (a divergent
// __syncthreads or warp collective, or a grid barrier that never completes).
double deadlock_seconds();
[[noreturn]] void deadlock(const char* what);

// A reusable barrier for `need` threads. Arrivals are acq_rel RMWs on one counter and the last
// one releases the generation word the others acquire, so everything a thread did before the
// barrier happens before everything any thread does after it.
struct Barrier {
  std::atomic<uint32_t> arrived{0};
  std::atomic<uint32_t> gen{0};
  uint32_t need = 0;
  const char* what = "barrier";

  void wait() {
    const uint32_t g = gen.load(std::memory_order_acquire);
    if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == need) {
      arrived.store(0, std::memory_order_relaxed);
      gen.fetch_add(1, std::memory_order_acq_rel);
      futex(&gen, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr);
      return;
    }
    const timespec slice{1, 0};
    double waited = 0;
    while (gen.load(std::memory_order_acquire) == g) {
      futex(&gen, FUTEX_WAIT_PRIVATE, g, &slice);
      if (gen.load(std::memory_order_acquire) != g) break;
      waited += 1;  // at most one second per timed-out wait; spurious wake-ups only undercount
      if (waited > deadlock_seconds()) deadlock(what);
    }
  }
};

// Per-warp rendezvous area. Each collective posts this lane's operand into one of two slots and
// waits at the warp barrier; alternating slots make one barrier per collective enough (a lane can
// only overwrite a slot after every lane has passed the next collective's barrier, i.e. has
// finished reading it).
struct WarpCtx {
  Barrier bar;
  alignas(16) unsigned char slot[2][32][64];
  int phase[32] = {};
};

struct BlockCtx {
  Barrier bar;
  std::unique_ptr<WarpCtx[]> warps;
  std::vector<unsigned char> static_smem;   // __shared__ arrays (emulations point them here)
  std::vector<unsigned char> dynamic_smem;  // extern __shared__, exactly the launch's size
};

inline thread_local BlockCtx* t_block = nullptr;
inline thread_local int t_lane = 0, t_warp = 0;

// Posts `bytes` of this lane's data, waits for the warp, and returns the 32 lanes' posts (slot
// stride 64 bytes) for reading until the lane's next collective.
inline const unsigned char* warp_exchange(const void* mine, size_t bytes) {
  WarpCtx& w = t_block->warps[t_warp];
  int& ph = w.phase[t_lane];
  std::memcpy(w.slot[ph][t_lane], mine, bytes);
  w.bar.wait();
  const unsigned char* all = &w.slot[ph][0][0];
  ph ^= 1;
  return all;
}
template <typename T>
inline T lane_value(const unsigned char* all, int lane) {
  T v;
  std::memcpy(&v, all + lane * 64, sizeof(T));
  return v;
}

inline void check_full_mask(unsigned mask) {
  if (mask != 0xffffffffu) {
    std::fprintf(stderr, "emu: warp collective with a partial mask %#x is not emulated\n", mask);
    std::abort();
  }
}

// Device properties the runtime shim reports.
struct Device {
  int sms = 4;
  int smem_optin = 232448;  // bytes per block (H100/H200)
  int concurrent_blocks = 1;  // blocks run at once for ordinary (non-cooperative) launches
};
extern Device device;
// Start each block's threads from the last to the first (a different interleaving).
extern bool reverse_thread_start;

struct Launch {
  dim3 grid, block;
  size_t dynamic_smem = 0;
};

// Runs body(block index) for every block, `concurrent` blocks at a time, each block's threads
// concurrently (one OS thread per CUDA thread, small stacks).
void run_grid(const Launch& l, unsigned concurrent, void (*body)(void*), void* ctx);

template <typename... KArgs, typename... Args>
int launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t dynamic_smem, unsigned concurrent,
           Args&&... args) {
  // Each CUDA thread gets its own copy of the arguments, as each gets its own parameter space.
  struct Ctx {
    void (*kernel)(KArgs...);
    std::tuple<std::decay_t<KArgs>...> args;
  } ctx{kernel, std::tuple<std::decay_t<KArgs>...>(std::forward<Args>(args)...)};
  Launch l{grid, block, dynamic_smem};
  run_grid(l, concurrent,
           [](void* p) {
             Ctx c = *static_cast<Ctx*>(p);
             std::apply(c.kernel, c.args);
           },
           &ctx);
  return 0;
}

// Kernels without barriers or shared memory (fill kernels): every thread in turn on the caller.
template <typename... KArgs, typename... Args>
void launch_sequential(void (*kernel)(KArgs...), dim3 grid, dim3 block, Args&&... args) {
  gridDim = grid;
  blockDim = block;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx)
        for (unsigned t = 0; t < block.x * block.y * block.z; ++t) {
          blockIdx = dim3(bx, by, bz);
          threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
          kernel(args...);
        }
}

}  // namespace emu

// ---------------------------------------------------------------------------------------------
// Device built-ins.

inline void __syncthreads() { emu::t_block->bar.wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  emu::check_full_mask(mask);
  emu::t_block->warps[emu::t_warp].bar.wait();
}

template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  emu::check_full_mask(mask);
  const unsigned char* all = emu::warp_exchange(&v, sizeof(T));
  int src = emu::t_lane ^ lane_mask;
  if (src / width != emu::t_lane / width) src = emu::t_lane;  // outside the segment: own value
  return emu::lane_value<T>(all, src);
}
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  emu::check_full_mask(mask);
  const unsigned char* all = emu::warp_exchange(&v, sizeof(T));
  return emu::lane_value<T>(all, (emu::t_lane / width) * width + (src % width));
}
inline int __reduce_max_sync(unsigned mask, int v) {
  emu::check_full_mask(mask);
  const unsigned char* all = emu::warp_exchange(&v, sizeof v);
  int r = INT_MIN;
  for (int l = 0; l < 32; ++l) r = std::max(r, emu::lane_value<int>(all, l));
  return r;
}
inline int __reduce_min_sync(unsigned mask, int v) {
  emu::check_full_mask(mask);
  const unsigned char* all = emu::warp_exchange(&v, sizeof v);
  int r = INT_MAX;
  for (int l = 0; l < 32; ++l) r = std::min(r, emu::lane_value<int>(all, l));
  return r;
}

// Loads through L2 / the read-only path: plain loads here (the emulator has no caches; see
// README.md for what that leaves unchecked).
template <typename T> inline T __ldcg(const T* p) { return *p; }
template <typename T> inline T __ldg(const T* p) { return *p; }

// CUDA's atomic functions are relaxed.
inline unsigned atomicExch(unsigned* p, unsigned v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace emu {
// The PTX memory operations the engine writes as inline assembly, with the same orders.
inline unsigned long long atom_add_release_gpu(unsigned long long* p, unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELEASE);
}
inline unsigned atom_add_acq_rel_gpu(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
// ld.acquire in a polling loop: the value, then a pause so the threads being waited for run.
// A poll that keeps reading one unchanged value for longer than deadlock_seconds() aborts.
unsigned long long ld_acquire_gpu_poll(const unsigned long long* p);
}  // namespace emu

// ---------------------------------------------------------------------------------------------
// Runtime API subset: memory is host memory, launches run on emu::run_grid.

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorLaunchTimeout = 702,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorHardwareStackError = 714,
  cudaErrorIllegalInstruction = 715,
  cudaErrorMisalignedAddress = 716,
  cudaErrorInvalidAddressSpace = 717,
  cudaErrorInvalidPc = 718,
  cudaErrorAssert = 710,
  cudaErrorECCUncorrectable = 214,
  cudaErrorContextIsDestroyed = 709,
  cudaErrorCooperativeLaunchTooLarge = 720,
  cudaErrorUnknown = 999,
};
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);

using cudaStream_t = struct emu_stream*;
using cudaEvent_t = struct emu_event*;

enum cudaDeviceAttr {
  cudaDevAttrCooperativeLaunch,
  cudaDevAttrMultiProcessorCount,
  cudaDevAttrMaxSharedMemoryPerBlockOptin,
  cudaDevAttrComputeCapabilityMajor,
};
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaLaunchAttributeID { cudaLaunchAttributeCooperative, cudaLaunchAttributeProgrammaticStreamSerialization };
struct cudaLaunchAttributeValue {
  int cooperative;
  int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
  cudaLaunchAttributeID id;
  cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
  dim3 gridDim, blockDim;
  size_t dynamicSmemBytes;
  cudaStream_t stream;
  cudaLaunchAttribute* attrs;
  unsigned numAttrs;
};
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };

cudaError_t cudaMalloc(void** p, size_t bytes);
template <typename T> cudaError_t cudaMalloc(T** p, size_t bytes) { return cudaMalloc(reinterpret_cast<void**>(p), bytes); }
cudaError_t cudaFree(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind);
cudaError_t cudaMemset(void* p, int v, size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int device);
template <typename F> cudaError_t cudaFuncSetAttribute(F*, cudaFuncAttribute, int bytes) {
  return bytes <= emu::device.smem_optin ? cudaSuccess : cudaErrorInvalidValue;
}
// One block per SM: what the engine's persistent kernel asks of the real occupancy query.
template <typename F> cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* n, F*, int threads, size_t smem) {
  *n = threads <= 1024 && smem <= static_cast<size_t>(emu::device.smem_optin) ? 1 : 0;
  return cudaSuccess;
}
// Declared for code that names them (timing helpers); an emulation that calls them fails to link.
cudaError_t cudaEventCreate(cudaEvent_t*);
cudaError_t cudaEventDestroy(cudaEvent_t);
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t);
cudaError_t cudaEventElapsedTime(float*, cudaEvent_t, cudaEvent_t);

template <typename... KArgs, typename... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* cfg, void (*kernel)(KArgs...), Args&&... args) {
  bool coop = false;
  for (unsigned i = 0; i < cfg->numAttrs; ++i)
    if (cfg->attrs[i].id == cudaLaunchAttributeCooperative && cfg->attrs[i].val.cooperative) coop = true;
  const size_t blocks = static_cast<size_t>(cfg->gridDim.x) * cfg->gridDim.y * cfg->gridDim.z;
  const size_t threads = static_cast<size_t>(cfg->blockDim.x) * cfg->blockDim.y * cfg->blockDim.z;
  if (threads == 0 || threads > 1024 || threads % 32 || blocks == 0) return cudaErrorInvalidValue;
  if (cfg->dynamicSmemBytes > static_cast<size_t>(emu::device.smem_optin)) return cudaErrorInvalidValue;
  // A cooperative grid must be co-resident: every block runs at once, which is also what the
  // emulation needs for grid barriers to complete.
  if (coop && blocks > static_cast<size_t>(emu::device.sms)) return cudaErrorCooperativeLaunchTooLarge;
  emu::launch(kernel, cfg->gridDim, cfg->blockDim, cfg->dynamicSmemBytes,
              coop ? static_cast<unsigned>(blocks) : static_cast<unsigned>(emu::device.concurrent_blocks),
              std::forward<Args>(args)...);
  return cudaSuccess;
}
