// A fork-join pool for the CPU forward pass. The calling thread takes part as worker 0.
// A forward step issues ~10 parallel regions per layer, so workers spin briefly between
// regions (cheap wake-up) and then sleep on a condition variable (no CPU burnt when idle).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace inferkit {
namespace cpu {

// Cores this process may run on (its CPU affinity mask, which containers and taskset narrow),
// falling back to std::thread::hardware_concurrency().
int available_cores();

class ThreadPool {
 public:
  // `threads` >= 1 workers in total, including the caller.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) once on every worker and returns when all are done. Not reentrant.
  void run(const std::function<void(int thread_index)>& fn);

  // Splits [0, n) into one contiguous range per worker, each a multiple of `align` except the
  // last: fn(begin, end, thread_index). `work` estimates the total cost in multiply-adds; below
  // kMinParallelWork the caller runs everything itself, because waking a worker (and, on a busy
  // machine, waiting for it to be scheduled) costs more than the work.
  void parallel_for(int64_t n, int64_t align, int64_t work,
                    const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

  // 8192: with the quantized matmuls this fast, the small per-token steps of a batch (norms,
  // RoPE, activation quantization for 8 tokens) were a serial tenth of a decode step; at 2^16,
  // engine_bench 125m Q4_K_M (2 threads) ran 6-15% slower, batch 1 and 8 sequences alike.
  static constexpr int64_t kMinParallelWork = 1 << 13;

  // Like parallel_for, but [0, n) is cut into chunks of `chunk` (the last may be shorter) that
  // the workers take one after another from a shared counter: work whose cost differs along the
  // range (rows of different weight types, attention over positions) or a worker delayed by
  // the machine no longer leaves the others waiting at the end of the region.
  void parallel_chunks(int64_t n, int64_t chunk, int64_t work,
                       const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleepers_{0};
};

}  // namespace cpu
}  // namespace inferkit
