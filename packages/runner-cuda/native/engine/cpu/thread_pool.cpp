#include "thread_pool.h"

#if defined(__linux__)
#include <sched.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define IK_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define IK_CPU_RELAX() asm volatile("yield")
#else
#define IK_CPU_RELAX() ((void)0)
#endif

namespace inferkit {
namespace cpu {

namespace {
// Spin iterations before sleeping: long enough to bridge the gap between the parallel regions
// of one forward step, short enough not to steal a shared core for long.
constexpr int kSpinIterations = 4000;
}  // namespace

int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  int n = static_cast<int>(std::thread::hardware_concurrency());
  return n > 0 ? n : 1;
}

ThreadPool::ThreadPool(int threads) : n_threads_(threads < 1 ? 1 : threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back(&ThreadPool::worker_loop, this, i);
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      IK_CPU_RELAX();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load()) return;
    (*job_)(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    // Taking the lock orders the publish against a worker that is about to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleepers_.load() > 0) cv_.notify_all();
  fn(0);
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIterations) {
      IK_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t align, int64_t work,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (align < 1) align = 1;
  const int64_t units = (n + align - 1) / align;
  const int workers = work < kMinParallelWork ? 1 : static_cast<int>(units < n_threads_ ? units : n_threads_);
  if (workers <= 1) {
    fn(0, n, 0);
    return;
  }
  run([&](int t) {
    if (t >= workers) return;
    const int64_t u0 = units * t / workers, u1 = units * (t + 1) / workers;
    const int64_t b = u0 * align, e = u1 * align < n ? u1 * align : n;
    if (b < e) fn(b, e, t);
  });
}

void ThreadPool::parallel_chunks(int64_t n, int64_t chunk, int64_t work,
                                 const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  if (work < kMinParallelWork || n <= chunk || n_threads_ == 1) {
    fn(0, n, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  run([&](int t) {
    for (;;) {
      const int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= n) return;
      fn(b, b + chunk < n ? b + chunk : n, t);
    }
  });
}

}  // namespace cpu
}  // namespace inferkit
