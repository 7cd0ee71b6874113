#include "emu_shim.h"

namespace emu {

Device device;
bool reverse_thread_start = false;

double deadlock_seconds() {
  static const double s = [] {
    const char* e = std::getenv("EMU_DEADLOCK_SECONDS");
    return e && std::atof(e) > 0 ? std::atof(e) : 300.0;
  }();
  return s;
}

void deadlock(const char* what) {
  std::fprintf(stderr, "emu: %s waited more than %.0f s (block %u, thread %u): deadlock\n", what,
               deadlock_seconds(), blockIdx.x, threadIdx.x);
  std::abort();
}

static double now_s() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

unsigned long long ld_acquire_gpu_poll(const unsigned long long* p) {
  thread_local const unsigned long long* last_p = nullptr;
  thread_local unsigned long long last_v = 0;
  thread_local double since = 0;
  thread_local unsigned polls = 0;
  const unsigned long long v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
  if (p != last_p || v != last_v) {
    last_p = p;
    last_v = v;
    since = now_s();
    polls = 0;
    return v;
  }
  // Unchanged: give the two cores to the threads being waited for, sleeping once the wait is long.
  if (++polls < 64) {
    sched_yield();
  } else {
    const timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
    if (polls % 1024 == 0 && now_s() - since > deadlock_seconds()) deadlock("a grid-barrier poll");
  }
  return v;
}

static size_t stack_bytes() {
  const char* e = std::getenv("EMU_STACK_KB");
  const long kb = e ? std::atol(e) : 0;
  return static_cast<size_t>(kb > 0 ? kb : 512) * 1024;
}

namespace {
struct ThreadStart {
  BlockCtx* block;
  dim3 tid, bid, bdim, gdim;
  void (*body)(void*);
  void* ctx;
};

void* thread_main(void* p) {
  const ThreadStart& s = *static_cast<ThreadStart*>(p);
  threadIdx = s.tid;
  blockIdx = s.bid;
  blockDim = s.bdim;
  gridDim = s.gdim;
  t_block = s.block;
  const unsigned linear = s.tid.x + s.bdim.x * (s.tid.y + s.bdim.y * s.tid.z);
  t_lane = static_cast<int>(linear % 32);
  t_warp = static_cast<int>(linear / 32);
  s.body(s.ctx);
  return nullptr;
}
}  // namespace

void run_grid(const Launch& l, unsigned concurrent, void (*body)(void*), void* ctx) {
  const unsigned nthreads = l.block.x * l.block.y * l.block.z;
  const unsigned nblocks = l.grid.x * l.grid.y * l.grid.z;
  if (nthreads == 0 || nthreads % 32 != 0) {
    std::fprintf(stderr, "emu: block size %u is not a multiple of 32\n", nthreads);
    std::abort();
  }
  if (concurrent == 0) concurrent = 1;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes());
  for (unsigned first = 0; first < nblocks; first += concurrent) {
    const unsigned n = std::min(concurrent, nblocks - first);
    std::vector<std::unique_ptr<BlockCtx>> blocks;
    std::vector<ThreadStart> starts;
    starts.reserve(static_cast<size_t>(n) * nthreads);
    for (unsigned b = 0; b < n; ++b) {
      auto bc = std::make_unique<BlockCtx>();
      bc->bar.need = nthreads;
      bc->bar.what = "__syncthreads";
      bc->warps.reset(new WarpCtx[nthreads / 32]);
      for (unsigned w = 0; w < nthreads / 32; ++w) {
        bc->warps[w].bar.need = 32;
        bc->warps[w].bar.what = "a warp collective";
      }
      // 0xFF bytes: NaN as float, bf16 and f16, so reading unwritten shared memory shows.
      bc->static_smem.assign(48 * 1024, 0xFF);
      bc->dynamic_smem.assign(l.dynamic_smem, 0xFF);
      const unsigned lin = first + b;
      const dim3 bid(lin % l.grid.x, lin / l.grid.x % l.grid.y, lin / (l.grid.x * l.grid.y));
      for (unsigned t0 = 0; t0 < nthreads; ++t0) {
        const unsigned t = reverse_thread_start ? nthreads - 1 - t0 : t0;
        const dim3 tid(t % l.block.x, t / l.block.x % l.block.y, t / (l.block.x * l.block.y));
        starts.push_back({bc.get(), tid, bid, l.block, l.grid, body, ctx});
      }
      blocks.push_back(std::move(bc));
    }
    std::vector<pthread_t> th(starts.size());
    for (size_t i = 0; i < starts.size(); ++i) {
      const int rc = pthread_create(&th[i], &attr, thread_main, &starts[i]);
      if (rc != 0) {
        std::fprintf(stderr, "emu: pthread_create failed for thread %zu of %zu: %s\n", i, starts.size(),
                     std::strerror(rc));
        std::abort();
      }
    }
    for (pthread_t t : th) pthread_join(t, nullptr);
  }
  pthread_attr_destroy(&attr);
}

}  // namespace emu

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    default: return "cudaError (emulated)";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }

cudaError_t cudaMalloc(void** p, size_t bytes) {
  // Exactly sized heap blocks, so AddressSanitizer sees any access past an allocation; NaN bytes
  // so that a read of memory nobody wrote poisons the result.
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xFF, bytes);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int v, size_t bytes) {
  if (bytes) std::memset(p, v, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t bytes, cudaStream_t) { return cudaMemset(p, v, bytes); }
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  switch (a) {
    case cudaDevAttrCooperativeLaunch: *v = 1; break;
    case cudaDevAttrMultiProcessorCount: *v = emu::device.sms; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = emu::device.smem_optin; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    default: return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
