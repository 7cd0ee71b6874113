#include <algorithm>
#include <cmath>

#include "sampling.h"

namespace inferkit {

namespace {

// Sixteen independent lanes (the loops below compile to vector compares and maxes; one scalar
// running max per value cost 50 us per 32k-vocabulary row, 5% of a batched decode step). The
// finite check and the max stay two loops: fused into one, GCC 12 no longer vectorizes it.
constexpr int kLanes = 16;

// The largest logit (-infinity when all are), given that none is NaN.
float max_logit(const float* logits, int n) {
  float m[kLanes];
  for (float& v : m) v = -INFINITY;
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) m[j] = logits[i + j] > m[j] ? logits[i + j] : m[j];
  float best = -INFINITY;
  for (float v : m) best = v > best ? v : best;
  for (; i < n; ++i) best = logits[i] > best ? logits[i] : best;
  return best;
}

// The first index of the largest logit.
int32_t argmax(const float* logits, int n) {
  const float best = max_logit(logits, n);
  int i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    int hit = 0;
    for (int j = 0; j < kLanes; ++j) hit |= logits[i + j] == best;
    if (hit) break;
  }
  for (; i < n; ++i)
    if (logits[i] == best) return i;
  return 0;
}

bool non_finite(const float* logits, int n) {
  // -infinity is a masked token, not a broken one.
  int bad[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) bad[j] |= !(logits[i + j] == logits[i + j]) | (logits[i + j] == INFINITY);
  int any = 0;
  for (int v : bad) any |= v;
  for (; i < n; ++i) any |= !(logits[i] == logits[i]) | (logits[i] == INFINITY);
  return any != 0;
}

}  // namespace

void apply_token_mask(float* logits, int vocab, const uint32_t* mask) {
  for (int w = 0; w * 32 < vocab; ++w) {
    const uint32_t bits = mask[w];
    if (bits == 0xFFFFFFFFu) continue;
    const int end = std::min(vocab, w * 32 + 32);
    for (int i = w * 32; i < end; ++i)
      if (!((bits >> (i & 31)) & 1u)) logits[i] = -INFINITY;
  }
}

int32_t sample_token(const float* logits, int vocab, const SamplingParams& params,
                     uint64_t step, SamplerScratch* s) {
  if (non_finite(logits, vocab)) return kNonFiniteLogits;
  if (!(params.temperature > 0.0f) || vocab <= 1) return argmax(logits, vocab);
  const float inv_t = 1.0f / params.temperature;
  const bool use_k = params.top_k > 0 && params.top_k < vocab;
  const bool use_p = params.top_p < 1.0f;
  const float u = rng_uniform(params.seed, step);

  s->ids.resize(vocab);
  for (int i = 0; i < vocab; ++i) s->ids[i] = i;
  int n = vocab;
  auto desc = [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (use_k) {
    n = params.top_k;
    std::partial_sort(s->ids.begin(), s->ids.begin() + n, s->ids.end(), desc);
  } else if (use_p) {
    std::sort(s->ids.begin(), s->ids.end(), desc);
  }

  float max_logit = -INFINITY;
  for (int i = 0; i < n; ++i) max_logit = std::max(max_logit, logits[s->ids[i]]);
  if (!std::isfinite(max_logit)) return argmax(logits, vocab);
  s->probs.resize(n);
  double total = 0;
  for (int i = 0; i < n; ++i) {
    float p = std::exp((logits[s->ids[i]] - max_logit) * inv_t);
    s->probs[i] = p;
    total += p;
  }
  if (use_p) {
    const double target = static_cast<double>(std::max(params.top_p, 0.0f)) * total;
    double cum = 0;
    int keep = n;
    for (int i = 0; i < n; ++i) {
      cum += s->probs[i];
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
    total = cum;
  }
  const double threshold = static_cast<double>(u) * total;
  double cum = 0;
  for (int i = 0; i < n; ++i) {
    cum += s->probs[i];
    if (cum > threshold) return s->ids[i];
  }
  return s->ids[n - 1];
}

void apply_penalties(float* logits, const SamplingParams& params, const PenaltyToken* tokens, int n) {
  for (int i = 0; i < n; ++i) logits[tokens[i].id] = penalized_logit(logits[tokens[i].id], tokens[i].count, params);
}

}  // namespace inferkit
