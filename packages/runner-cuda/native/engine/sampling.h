// Per-sequence sampling parameters and the counter-based RNG every backend uses, so the same
// seed gives the same tokens whichever thread or device runs the step. The functions marked
// IK_HOST_DEVICE compile for CUDA device code too.
#pragma once

#include <cstdint>
#include <vector>

#if defined(__CUDACC__)
#define IK_HOST_DEVICE __host__ __device__
#else
#define IK_HOST_DEVICE
#endif

namespace inferkit {

struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy (argmax, lowest id on ties)
  int top_k = 0;             // <= 0: disabled
  float top_p = 1.0f;        // >= 1: disabled; else keep the smallest set with mass >= top_p
  uint64_t seed = 0;
};

// splitmix64 finaliser: a bijective 64-bit mix.
IK_HOST_DEVICE inline uint64_t rng_mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The uniform draw in [0, 1) for the `step`-th sampled token of a sequence seeded with `seed`.
// Stateless (counter-based) so a step can be replayed and a GPU thread needs no state.
IK_HOST_DEVICE inline float rng_uniform(uint64_t seed, uint64_t step) {
  uint64_t r = rng_mix64(seed ^ rng_mix64(step));
  return static_cast<float>(r >> 40) * (1.0f / 16777216.0f);  // 24 random bits
}

// Reference sampler, used by the CPU backend and by any backend that copies logits to the
// host. A device implementation must follow the same algorithm to give the same tokens:
//   temperature <= 0 -> argmax (lowest id on ties).
//   Otherwise scale logits by 1/temperature. With top_k or top_p active, order the candidates
//   by logit descending (id ascending on ties), keep the first top_k, softmax over them, and
//   keep the shortest prefix whose cumulative probability reaches top_p; with neither active,
//   the candidates are the whole vocabulary in id order. Draw u = rng_uniform(seed, step) and
//   return the first candidate whose cumulative (renormalised) probability exceeds u.
//
// A row holding a NaN or +infinity is not sampled: the forward pass is broken (NaN weights, an
// overflow), and any token picked from it would be noise (an all-NaN row used to give token 0,
// often an end token: empty output and no error). Every sampler returns kNonFiniteLogits for it
// and the engine fails the sequence with an internal error.
constexpr int32_t kNonFiniteLogits = -1;
struct SamplerScratch {
  std::vector<int32_t> ids;
  std::vector<float> probs;
};
int32_t sample_token(const float* logits, int vocab_size, const SamplingParams& params,
                     uint64_t step, SamplerScratch* scratch);

}  // namespace inferkit
