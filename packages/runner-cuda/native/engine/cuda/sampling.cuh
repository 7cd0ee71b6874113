// Token selection on the GPU, so only token ids cross to the host. Same algorithm as the
// reference sampler in ../sampling.h (the CPU backend's), executed without sorting:
//
// Candidates are ordered by (logit descending, id ascending). Every "take the prefix of that
// order up to where a running total reaches a target" step (the top_k cut, the top_p cut and
// the final draw) is an MSB-first radix walk over order-preserving 32-bit keys of the logits:
// four 256-bin histogram passes find the key at which the running total crosses the target,
// then a block-wide prefix sum in id order settles ties at that key. A candidate set is thus
// always "key > tau, or key == tau and id <= cut". With neither top-k nor top-p the reference
// draws in id order, and so does this kernel (one prefix sum over the vocabulary).
//
// One 1024-thread block per row. Softmax masses exp((l - max) / T) are summed as fixed-point
// integers (scaled by 2^45), so totals, and hence the token for a given (seed, step), do not
// depend on the order of atomic updates. They can differ from the CPU's double sums only where
// a draw lands within ~1e-13 of a boundary.
#pragma once

#include "../sampling.h"
#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kSamplingThreads = 1024;

// tokens[r] = sample(logits[r * vocab .. +vocab), params[r], steps[r]) for r < rows.
cudaError_t launch_sample(const float* logits, int rows, int vocab, const SamplingParams* params,
                          const uint64_t* steps, int32_t* tokens, cudaStream_t stream);

// Penalties before launch_sample: for r < rows, every listed token t of row r
// (tokens[offsets[r] .. offsets[r + 1])) gets logits[r * vocab + t.id] =
// penalized_logit(that, t.count, params[r]) (../sampling.h), the CPU sampler's arithmetic.
cudaError_t launch_apply_penalties(float* logits, int rows, int vocab, const SamplingParams* params,
                                   const int32_t* offsets, const PenaltyToken* tokens,
                                   cudaStream_t stream);

// Constrained decoding: logits[r * vocab + i] = -inf where bit i of mask row r (token_mask_words
// words per row, see ../sampling.h) is clear, before launch_sample.
cudaError_t launch_apply_token_mask(float* logits, int rows, int vocab, const uint32_t* mask,
                                    cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
