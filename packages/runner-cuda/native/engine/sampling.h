// Per-sequence sampling parameters and the counter-based RNG every backend uses, so the same
// seed gives the same tokens whichever thread or device runs the step. The functions marked
// IK_HOST_DEVICE compile for CUDA device code too.
#pragma once

#include <cmath>
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
  // Penalties, applied to the logits before everything above (greedy included); see
  // penalized_logit(). 0, 0 and 1 leave the logits alone.
  float presence_penalty = 0.0f;    // OpenAI: once for every token the output holds
  float frequency_penalty = 0.0f;   // OpenAI: per occurrence in the output
  float repetition_penalty = 1.0f;  // CTRL / transformers / vLLM: tokens of prompt or output
};

// The repetition penalties the engine accepts: logit / penalty stays finite for any logit a
// model produces.
constexpr float kMinRepetitionPenalty = 1e-3f;
constexpr float kMaxRepetitionPenalty = 1e3f;

// A token the penalties of one sequence apply to: it occurs in the output `count` times (0 for
// a token of the prompt only, listed when repetition_penalty != 1). Each id at most once a row.
struct PenaltyToken {
  int32_t id;
  int32_t count;
};

inline bool has_penalties(const SamplingParams& p) {
  return p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f || p.repetition_penalty != 1.0f;
}

// The logit of a token listed for the penalties, on every backend:
//   repetition (transformers' RepetitionPenaltyLogitsProcessor, vLLM): over the prompt and the
//     output, a positive logit is divided by the penalty and a negative one multiplied by it;
//   then OpenAI's formula over the output only:
//     logit -= frequency_penalty * count + presence_penalty * (count > 0).
// The product-sum is one fused multiply-add on every backend (fmaf: correctly rounded on the
// host and the device), so CPU and CUDA give the same bits.
IK_HOST_DEVICE inline float penalized_logit(float logit, int32_t count, const SamplingParams& p) {
  if (p.repetition_penalty != 1.0f) {
    logit = logit > 0.0f ? logit / p.repetition_penalty : logit * p.repetition_penalty;
  }
  if (count > 0) logit -= fmaf(p.frequency_penalty, static_cast<float>(count), p.presence_penalty);
  return logit;
}

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

// Token masks (constrained decoding): bit i % 32 of word i / 32 set = token i may be sampled.
inline int token_mask_words(int vocab) { return (vocab + 31) / 32; }
// Sets the logits of the tokens `mask` excludes to -infinity.
void apply_token_mask(float* logits, int vocab, const uint32_t* mask);

struct SamplerScratch {
  std::vector<int32_t> ids;
  std::vector<float> probs;
};
int32_t sample_token(const float* logits, int vocab_size, const SamplingParams& params,
                     uint64_t step, SamplerScratch* scratch);

// Rewrites logits[t.id] = penalized_logit(logits[t.id], t.count, params) for each of the n
// tokens (ids < vocab size, each once). Runs before sample_token.
void apply_penalties(float* logits, const SamplingParams& params, const PenaltyToken* tokens, int n);

}  // namespace inferkit
