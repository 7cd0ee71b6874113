/*
Token sampling on the GPU (greedy, temperature, top-k, top-p, seeded) checked token for token
against the engine's reference sampler (engine/sampler.cpp, which the CPU backend uses).

Build: part of tools/CMakeLists.txt (target wb_sampling), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine sampling.cu -o sampling

version 1: copy the logits to the host and run the reference sampler (what a backend without
           device sampling does): the baseline to beat, and the oracle.
version 2: the engine kernel (engine/cuda/sampling.cu): one block per row, radix-select walks for
           the top-k cut, the top-p cut and the draw, fixed-point masses.

Run: ./sampling  (compares the two on random logits, with ties, for several parameter sets and
many (seed, step) pairs, then times both at vocab 128256)
*/
#include <chrono>

#include "common.h"
#include "cuda/sampling.cu"
#include "sampler.cpp"

using namespace inferkit;

int main() {
  bool ok = true;
  struct P { const char* name; SamplingParams p; };
  const P sets[] = {
      {"greedy", {0.f, 0, 1.f, 0}},       {"temp0.7", {0.7f, 0, 1.f, 0}},
      {"topk40", {1.f, 40, 1.f, 0}},      {"topp0.9", {1.f, 0, 0.9f, 0}},
      {"k50p0.8t0.8", {0.8f, 50, 0.8f, 0}}, {"topk1", {1.f, 1, 1.f, 0}},
      {"t1.5p0.95", {1.5f, 0, 0.95f, 0}},  {"topp0.01", {1.f, 0, 0.01f, 0}}};
  for (int vocab : {320, 128256}) {
    const int rows = 64;
    std::vector<float> logits = random_floats(static_cast<size_t>(rows) * vocab, 5, 4.f);
    // Ties: copy some values inside each row so equal logits must be ordered by id.
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < vocab / 10; ++i) logits[static_cast<size_t>(r) * vocab + (i * 7) % vocab] = logits[static_cast<size_t>(r) * vocab + (i * 13) % vocab];
    float* dl = to_device(logits);
    SamplingParams* dp;
    uint64_t* ds;
    int32_t* dt;
    WB_CHECK(cudaMalloc(&dp, rows * sizeof(SamplingParams)));
    WB_CHECK(cudaMalloc(&ds, rows * sizeof(uint64_t)));
    WB_CHECK(cudaMalloc(&dt, rows * sizeof(int32_t)));
    SamplerScratch scratch;
    for (const P& set : sets) {
      int same = 0, total = 0;
      const int trials = vocab > 1000 ? 1 : 4;  // the reference sorts 128k logits per draw
      for (int trial = 0; trial < trials; ++trial) {
        std::vector<SamplingParams> ps(rows, set.p);
        std::vector<uint64_t> steps(rows);
        for (int r = 0; r < rows; ++r) { ps[r].seed = 1000 + r * 7 + trial; steps[r] = trial * 3 + r; }
        WB_CHECK(cudaMemcpy(dp, ps.data(), rows * sizeof(SamplingParams), cudaMemcpyHostToDevice));
        WB_CHECK(cudaMemcpy(ds, steps.data(), rows * sizeof(uint64_t), cudaMemcpyHostToDevice));
        WB_CHECK(cuda::launch_sample(dl, rows, vocab, dp, ds, dt, 0));
        const std::vector<int32_t> got = to_host(dt, rows);
        for (int r = 0; r < rows; ++r) {
          const int32_t want = sample_token(logits.data() + static_cast<size_t>(r) * vocab, vocab, ps[r], steps[r], &scratch);
          same += got[r] == want;
          ++total;
          if (got[r] != want && total - same <= 3)
            std::printf("  mismatch %s vocab=%d row %d: gpu %d cpu %d\n", set.name, vocab, r, got[r], want);
        }
      }
      // Exact agreement is expected; a draw within ~1e-13 of a cumulative boundary may differ
      // (fixed-point vs double sums), so the bar is 99%.
      const bool pass = same * 100 >= total * 99;
      ok = ok && pass;
      std::printf("%s kernel2 vs reference %-12s vocab=%d: %d/%d identical tokens\n", pass ? "OK" : "FAIL", set.name, vocab, same, total);
    }
    if (vocab > 1000) {
      for (int which : {0, 3}) {
        for (int r : {1, 64}) {
          std::vector<SamplingParams> ps(r, sets[which].p);
          WB_CHECK(cudaMemcpy(dp, ps.data(), r * sizeof(SamplingParams), cudaMemcpyHostToDevice));
          const float ms = time_kernel([&] { WB_CHECK(cuda::launch_sample(dl, r, vocab, dp, ds, dt, 0)); });
          // Version 1: copy logits to the host and sample there.
          std::vector<float> host(static_cast<size_t>(r) * vocab);
          const auto t0 = std::chrono::steady_clock::now();
          WB_CHECK(cudaMemcpy(host.data(), dl, host.size() * 4, cudaMemcpyDeviceToHost));
          for (int i = 0; i < r; ++i) sample_token(host.data() + static_cast<size_t>(i) * vocab, vocab, ps[i], 0, &scratch);
          const double host_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          std::printf("time %s rows=%d: kernel2 %.4f ms, kernel1 (copy + host) %.3f ms\n", sets[which].name, r, ms, host_ms);
        }
      }
    }
    cudaFree(dl); cudaFree(dp); cudaFree(ds); cudaFree(dt);
  }
  std::printf("%s\n", ok ? "OK sampling" : "FAIL sampling");
  return ok ? 0 : 1;
}
