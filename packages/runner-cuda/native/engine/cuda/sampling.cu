#include "sampling.cuh"

namespace inferkit {
namespace cuda {

namespace {

constexpr int kWarps = kSamplingThreads / 32;
constexpr double kMassScale = 35184372088832.0;  // 2^45: a 262144-token vocabulary sums below 2^63

using u64 = unsigned long long;

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Candidate set: key > tau, or key == tau and id <= cut.
struct CandSet {
  uint32_t tau;
  int cut;
  __device__ bool has(uint32_t key, int id) const { return key > tau || (key == tau && id <= cut); }
};

struct Shared {
  u64 hist[256];
  u64 warp_tot[kWarps];
  float fred[kWarps];
  int ired[kWarps];
  uint32_t prefix, mask;
  u64 remaining;
  int strict;
  int found;
};

struct Row {
  const float* logits;
  int vocab;
  float maxv;
  float inv_t;
  bool by_mass;  // weights: softmax mass (true) or 1 per token (false)

  __device__ u64 weight(int i) const {
    if (!by_mass) return 1ull;
    return static_cast<u64>(static_cast<double>(expf((logits[i] - maxv) * inv_t)) * kMassScale);
  }
};

// Inclusive block scan of 64-bit values; *total gets the block sum.
__device__ u64 block_scan(Shared& sh, u64 v, u64* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 n = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += n;
  }
  __syncthreads();  // warp_tot may still be read by a previous scan
  if (lane == 31) sh.warp_tot[warp] = v;
  __syncthreads();
  u64 before = 0, all = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += sh.warp_tot[w];
    all += sh.warp_tot[w];
  }
  *total = all;
  return v + before;
}

__device__ u64 set_total(Shared& sh, const Row& r, const CandSet& s) {
  u64 local = 0;
  for (int i = threadIdx.x; i < r.vocab; i += blockDim.x)
    if (s.has(order_key(r.logits[i]), i)) local += r.weight(i);
  u64 total = 0;
  block_scan(sh, local, &total);
  return total;
}

// The prefix of `s` (in key-descending, id-ascending order) ending at the first candidate where
// the running weight reaches `target` (running >= target, or > target when `strict`).
__device__ CandSet crossing(Shared& sh, const Row& r, const CandSet& s, u64 target, bool strict) {
  if (threadIdx.x == 0) {
    sh.prefix = 0;
    sh.mask = 0;
    sh.remaining = target;
    sh.strict = strict ? 1 : 0;
  }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) sh.hist[i] = 0;
    __syncthreads();
    const uint32_t prefix = sh.prefix, mask = sh.mask;
    for (int i = threadIdx.x; i < r.vocab; i += blockDim.x) {
      const uint32_t key = order_key(r.logits[i]);
      if ((key & mask) != prefix || !s.has(key, i)) continue;
      const u64 w = r.weight(i);
      if (w != 0) atomicAdd(&sh.hist[(key >> shift) & 0xFFu], w);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      u64 above = 0;
      int bin = -1;
      for (int b = 255; b >= 0; --b) {
        const u64 upto = above + sh.hist[b];
        if (sh.strict ? upto > sh.remaining : upto >= sh.remaining) { bin = b; break; }
        above = upto;
      }
      if (bin < 0) {  // target beyond the set's total (rounding): take the last non-empty bin
        for (int b = 0; b < 256; ++b)
          if (sh.hist[b] != 0) { bin = b; break; }
        if (bin < 0) bin = 0;
        above = 0;
        for (int b = 255; b > bin; --b) above += sh.hist[b];
        sh.remaining = above + sh.hist[bin];
        sh.strict = 0;
      }
      sh.remaining -= above;
      sh.prefix |= static_cast<uint32_t>(bin) << shift;
      sh.mask |= 0xFFu << shift;
    }
    __syncthreads();
  }
  // Ties at the crossing key, in id order: contiguous chunks per thread, then a prefix sum.
  const uint32_t tau = sh.prefix;
  const u64 rem = sh.remaining;
  const bool st = sh.strict != 0;
  const int chunk = (r.vocab + blockDim.x - 1) / blockDim.x;
  const int c0 = threadIdx.x * chunk, c1 = min(r.vocab, c0 + chunk);
  u64 local = 0;
  for (int i = c0; i < c1; ++i) {
    const uint32_t key = order_key(r.logits[i]);
    if (key == tau && s.has(key, i)) local += r.weight(i);
  }
  if (threadIdx.x == 0) sh.found = -1;
  u64 total = 0;
  const u64 incl = block_scan(sh, local, &total);
  const u64 excl = incl - local;
  if (local != 0 && (st ? incl > rem : incl >= rem) && !(st ? excl > rem : excl >= rem)) {
    u64 acc = excl;
    for (int i = c0; i < c1; ++i) {
      const uint32_t key = order_key(r.logits[i]);
      if (key != tau || !s.has(key, i)) continue;
      acc += r.weight(i);
      if (st ? acc > rem : acc >= rem) { sh.found = i; break; }
    }
  }
  __syncthreads();
  CandSet out;
  out.tau = tau;
  out.cut = sh.found >= 0 ? sh.found : s.cut;  // not found: keep every tie (rounding)
  if (tau == s.tau && out.cut > s.cut) out.cut = s.cut;
  __syncthreads();
  return out;
}

// The single member of a one-token-wide set ending at `s` (its last candidate).
__device__ int last_member(Shared& sh, const Row& r, const CandSet& s) {
  if (threadIdx.x == 0) sh.found = -1;
  __syncthreads();
  for (int i = threadIdx.x; i < r.vocab; i += blockDim.x)
    if (order_key(r.logits[i]) == s.tau && i <= s.cut) atomicMax(&sh.found, i);
  __syncthreads();
  return sh.found;
}

// With neither top-k nor top-p the reference walks the whole vocabulary in id order: the first
// id whose running mass exceeds `threshold`.
__device__ int draw_in_id_order(Shared& sh, const Row& r, u64 threshold) {
  const int chunk = (r.vocab + blockDim.x - 1) / blockDim.x;
  const int c0 = threadIdx.x * chunk, c1 = min(r.vocab, c0 + chunk);
  u64 local = 0;
  for (int i = c0; i < c1; ++i) local += r.weight(i);
  if (threadIdx.x == 0) sh.found = -1;
  u64 total = 0;
  const u64 incl = block_scan(sh, local, &total);
  const u64 excl = incl - local;
  if (local != 0 && incl > threshold && !(excl > threshold)) {
    u64 acc = excl;
    for (int i = c0; i < c1; ++i) {
      acc += r.weight(i);
      if (acc > threshold) { sh.found = i; break; }
    }
  }
  __syncthreads();
  return sh.found;
}

}  // namespace

__global__ void __launch_bounds__(kSamplingThreads)
sample_kernel(const float* __restrict__ logits, int vocab, const SamplingParams* __restrict__ params,
              const uint64_t* __restrict__ steps, int32_t* __restrict__ tokens) {
  __shared__ Shared sh;
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const SamplingParams p = params[blockIdx.x];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  // Argmax, lowest id on ties. A NaN or +infinity anywhere in the row: kNonFiniteLogits (as the
  // CPU sampler), decided by every thread together.
  float best = -INFINITY;
  int best_i = vocab;
  int bad = 0;
  for (int i = tid; i < vocab; i += blockDim.x) {
    const float v = row[i];
    bad |= isnan(v) || v == INFINITY;
    if (v > best) { best = v; best_i = i; }
  }
  if (__syncthreads_or(bad)) {
    if (tid == 0) tokens[blockIdx.x] = kNonFiniteLogits;
    return;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, best_i, o);
    if (ov > best || (ov == best && oi < best_i)) { best = ov; best_i = oi; }
  }
  if (lane == 0) { sh.fred[warp] = best; sh.ired[warp] = best_i; }
  __syncthreads();
  if (tid == 0) {
    float b = sh.fred[0];
    int bi = sh.ired[0];
    for (int w = 1; w < kWarps; ++w)
      if (sh.fred[w] > b || (sh.fred[w] == b && sh.ired[w] < bi)) { b = sh.fred[w]; bi = sh.ired[w]; }
    sh.fred[0] = b;
    sh.ired[0] = bi >= vocab ? 0 : bi;
  }
  __syncthreads();
  const float maxv = sh.fred[0];
  const int argmax = sh.ired[0];
  if (!(p.temperature > 0.f) || vocab <= 1 || !isfinite(maxv)) {
    if (tid == 0) tokens[blockIdx.x] = argmax;
    return;
  }
  __syncthreads();

  Row r{row, vocab, maxv, 1.f / p.temperature, false};
  CandSet s{0u, 0x7fffffff};
  const bool use_k = p.top_k > 0 && p.top_k < vocab;
  const bool use_p = p.top_p < 1.f;
  const float u = rng_uniform(p.seed, steps[blockIdx.x]);
  if (!use_k && !use_p) {
    r.by_mass = true;
    const u64 total = set_total(sh, r, s);
    const u64 threshold = static_cast<u64>(static_cast<double>(u) * static_cast<double>(total));
    const int tok = draw_in_id_order(sh, r, threshold);
    if (tid == 0) tokens[blockIdx.x] = tok >= 0 ? tok : argmax;
    return;
  }
  if (use_k) s = crossing(sh, r, s, static_cast<u64>(p.top_k), false);
  r.by_mass = true;
  u64 total = set_total(sh, r, s);
  if (use_p) {
    const double want = static_cast<double>(fmaxf(p.top_p, 0.f)) * static_cast<double>(total);
    u64 target = static_cast<u64>(ceil(want));
    if (target == 0) target = 1;
    s = crossing(sh, r, s, target, false);
    total = set_total(sh, r, s);
  }
  const u64 threshold = static_cast<u64>(static_cast<double>(u) * static_cast<double>(total));
  const CandSet pick = crossing(sh, r, s, threshold, true);
  const int tok = last_member(sh, r, pick);
  if (tid == 0) tokens[blockIdx.x] = tok >= 0 ? tok : argmax;
}

// One block per row; each listed id occurs once in its row, so no two threads write one logit.
__global__ void apply_penalties_kernel(float* __restrict__ logits, int vocab,
                                       const SamplingParams* __restrict__ params,
                                       const int32_t* __restrict__ offsets,
                                       const PenaltyToken* __restrict__ tokens) {
  float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const SamplingParams p = params[blockIdx.x];
  for (int i = offsets[blockIdx.x] + threadIdx.x; i < offsets[blockIdx.x + 1]; i += blockDim.x) {
    const PenaltyToken t = tokens[i];
    row[t.id] = penalized_logit(row[t.id], t.count, p);
  }
}

cudaError_t launch_apply_penalties(float* logits, int rows, int vocab, const SamplingParams* params,
                                   const int32_t* offsets, const PenaltyToken* tokens,
                                   cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  apply_penalties_kernel<<<rows, 256, 0, stream>>>(logits, vocab, params, offsets, tokens);
  return cudaGetLastError();
}

__global__ void apply_token_mask_kernel(float* __restrict__ logits, int vocab,
                                        const uint32_t* __restrict__ mask, int words) {
  float* row = logits + static_cast<int64_t>(blockIdx.y) * vocab;
  const uint32_t* m = mask + static_cast<int64_t>(blockIdx.y) * words;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < vocab; i += gridDim.x * blockDim.x)
    if (!((m[i >> 5] >> (i & 31)) & 1u)) row[i] = -INFINITY;
}

cudaError_t launch_apply_token_mask(float* logits, int rows, int vocab, const uint32_t* mask,
                                    cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int blocks = min((vocab + kThreads - 1) / kThreads, 64);
  apply_token_mask_kernel<<<dim3(blocks, rows), kThreads, 0, stream>>>(logits, vocab, mask,
                                                                       token_mask_words(vocab));
  return cudaGetLastError();
}

cudaError_t launch_sample(const float* logits, int rows, int vocab, const SamplingParams* params,
                          const uint64_t* steps, int32_t* tokens, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  sample_kernel<<<rows, kSamplingThreads, 0, stream>>>(logits, vocab, params, steps, tokens);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace inferkit
