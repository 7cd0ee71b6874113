#include "decode_persistent.cuh"

#include <algorithm>

namespace inferkit {
namespace cuda {
namespace persistent {

constexpr int kThreads = kPersistentThreads;
constexpr int kWarps = kThreads / 32;
// A matvec unit: one warp, two weight rows (a "pair"), kUnitVecs 16-byte loads per lane per row,
// i.e. 8 loads in flight per lane (64 KB per SM). Two rows per unit share the x values read
// from shared memory, which halves shared-memory traffic (at 4 rows it would otherwise bound
// the kernel).
constexpr int kUnitVecs = 4;
constexpr int kElemsPerVec = 8;                       // 16-bit weights
constexpr int kUnitK = 32 * kUnitVecs * kElemsPerVec; // K elements one unit covers
constexpr int kPartialFloats = 4096;                  // per-unit partial sums of one tile
constexpr int kSplitAlign = kKvBlockTokens;
constexpr int kMaxSplitLen = 1024;

// ---------------------------------------------------------------------------------------------
// Grid barrier, split into arrive and wait. Thread 0 of each block adds 1 to a 64-bit count
// with release semantics and, in grid_wait, spins (acquire) until the count reaches the next
// multiple of the grid size; __syncthreads on both sides extends the ordering to the whole
// block. No reset is needed and the last arrival does nothing special.
//
// Between arrive and wait a block only issues loads of data no block writes during the step
// (weights; cached keys/values of earlier positions) for the next phase. Arriving first matters:
// the release fence waits for the arriving thread's own outstanding memory operations, so a
// fence issued after the prefetch would stall on it; bar.sync and the acquire load do not wait
// for other loads in flight.
__device__ __forceinline__ unsigned long long atomic_add_release_gpu(unsigned long long* p, unsigned long long v) {
  unsigned long long old;
  asm volatile("atom.add.release.gpu.global.u64 %0, [%1], %2;" : "=l"(old) : "l"(p), "l"(v) : "memory");
  return old;
}

__device__ __forceinline__ unsigned long long ld_acquire_gpu(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ unsigned atomic_add_acq_rel_gpu(unsigned* p, unsigned v) {
  unsigned old;
  asm volatile("atom.add.acq_rel.gpu.global.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
  return old;
}

// Returns the count to wait for (meaningful in thread 0 only).
__device__ __forceinline__ unsigned long long grid_arrive(GridBarrierState* bar) {
  __syncthreads();  // every thread's writes of the phase precede thread 0's release
  unsigned long long target = 0;
  if (threadIdx.x == 0) {
    const unsigned long long n = gridDim.x;
    target = (atomic_add_release_gpu(&bar->count, 1ull) / n + 1) * n;
  }
  return target;
}

__device__ __forceinline__ void grid_wait(GridBarrierState* bar, unsigned long long target) {
  if (threadIdx.x == 0) {
    while (ld_acquire_gpu(&bar->count) < target) {
    }
  }
  __syncthreads();
}

// ---------------------------------------------------------------------------------------------
// Matrix-vector phases.
//
// A job's weight rows are taken two at a time ("pairs"): rows (2p, 2p + 1) of an ordinary
// matrix, or rows (p, inter + p) of gate|up so that one unit holds both halves of SiLU(g) * u.
// Each block owns a contiguous range of pairs (balanced over the grid) and walks it in tiles
// whose per-unit partial sums fit kPartialFloats; a unit is (pair, chunk of kUnitK columns),
// dealt round-robin to the block's warps. Partial sums meet in shared memory and are added in
// chunk order, so results are deterministic.

enum class Epilogue { kStore, kAccumulate, kSwiGLU };

struct MvJob {
  const void* w;
  int K;
  int chunks;               // ceil(K / kUnitK)
  int n_phys;               // weight rows
  int pair_stride;          // weight rows between consecutive pairs' first rows
  int second_offset;        // weight rows from a pair's first row to its second
  int p0, p1;               // this block's pairs
  int tile_pairs;
};

__device__ __forceinline__ MvJob make_job(const void* w, int n_phys, int K, bool gate_up, int nb) {
  MvJob j;
  j.w = w;
  j.K = K;
  j.chunks = (K + kUnitK - 1) / kUnitK;
  j.n_phys = n_phys;
  j.pair_stride = gate_up ? 1 : 2;
  j.second_offset = gate_up ? n_phys / 2 : 1;
  const int pairs = gate_up ? n_phys / 2 : (n_phys + 1) / 2;
  j.p0 = static_cast<int>(static_cast<int64_t>(pairs) * blockIdx.x / gridDim.x);
  j.p1 = static_cast<int>(static_cast<int64_t>(pairs) * (blockIdx.x + 1) / gridDim.x);
  const int tp = kPartialFloats / (nb * 2 * j.chunks);
  j.tile_pairs = tp > 0 ? tp : 1;  // the plan guarantees tp >= 1
  return j;
}

// Issues the 2 * kUnitVecs weight loads of unit `lu` of the tile starting at pair tp0.
template <typename WT>
__device__ __forceinline__ void unit_load(const MvJob& j, int tp0, int lu, uint4 (&v)[2 * kUnitVecs]) {
  const int lane = threadIdx.x & 31;
  const int pair = tp0 + lu / j.chunks, chunk = lu % j.chunks;
  const int64_t r0 = static_cast<int64_t>(pair) * j.pair_stride;
  const int64_t r1 = r0 + j.second_offset;
  const bool has1 = r1 < j.n_phys;
  const WT* w0 = static_cast<const WT*>(j.w) + r0 * j.K;
  const WT* w1 = static_cast<const WT*>(j.w) + (has1 ? r1 : r0) * j.K;
#pragma unroll
  for (int c = 0; c < kUnitVecs; ++c) {
    const int k = chunk * kUnitK + (c * 32 + lane) * kElemsPerVec;
    v[c] = k < j.K ? ld_stream16(w0 + k) : make_uint4(0, 0, 0, 0);
    v[kUnitVecs + c] = (k < j.K && has1) ? ld_stream16(w1 + k) : make_uint4(0, 0, 0, 0);
  }
}

// The loads of this warp's first unit of `j`, issued between arriving at and waiting at the
// grid barrier that precedes the phase (weights never change, so reading them early is safe).
template <typename WT>
__device__ __forceinline__ void prefetch_first_unit(const MvJob& j, uint4 (&v)[2 * kUnitVecs]) {
  const int warp = threadIdx.x >> 5;
  const int tpairs = min(j.tile_pairs, j.p1 - j.p0);
  if (tpairs > 0 && warp < tpairs * j.chunks) {
    unit_load<WT>(j, j.p0, warp, v);
  } else {
#pragma unroll
    for (int i = 0; i < 2 * kUnitVecs; ++i) v[i] = make_uint4(0, 0, 0, 0);
  }
}

__device__ __forceinline__ float silu(float g) { return g / (1.f + __expf(-g)); }

// Shared-memory activation layout: row b of K floats at xs + b * K, split into two planes so
// that lane l's 8 values (k = 8 l .. 8 l + 7) are two conflict-free float4 reads: values
// 8g..8g+3 at lo[4g], 8g+4..8g+7 at lo[K/2 + 4g].
__device__ __forceinline__ float* xs_slot(float* xs, int K, int b, int i4) {
  // i4 indexes float4s of the row in natural order: group g = i4 / 2, half = i4 % 2.
  return xs + static_cast<int64_t>(b) * K + (i4 & 1) * (K / 2) + (i4 >> 1) * 4;
}

// Runs job j over activations xs (NB rows of K staged floats), the first unit's weights already
// in v (see prefetch_first_unit); writes rows < rows of out (stride ldo) per the epilogue.
template <typename WT, int NB, Epilogue E>
__device__ __forceinline__ void run_matvec(const MvJob& j, const float* xs, float* partial, uint4 (&v)[2 * kUnitVecs],
                           const float* __restrict__ bias, float* out, int ldo, int rows) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int K = j.K;
  for (int tp0 = j.p0; tp0 < j.p1; tp0 += j.tile_pairs) {
    const int tpairs = min(j.tile_pairs, j.p1 - tp0);
    const int units = tpairs * j.chunks;
#pragma unroll 1  // one unit's 8 loads in flight per warp; unrolling would only add registers
    for (int lu = warp; lu < units; lu += kWarps) {
      // The first unit's weights are already in v (prefetched before the barrier); v is also
      // the buffer of every later unit, so the prefetch costs no extra registers in the loop.
      if (tp0 != j.p0 || lu != warp) unit_load<WT>(j, tp0, lu, v);
      const int chunk = lu % j.chunks;
      float acc[NB][2];
#pragma unroll
      for (int b = 0; b < NB; ++b) acc[b][0] = acc[b][1] = 0.f;
#pragma unroll
      for (int c = 0; c < kUnitVecs; ++c) {
        const int g = chunk * (kUnitK / kElemsPerVec) + c * 32 + lane;  // 8-element group
        if (g * kElemsPerVec < K) {
          float wa[kElemsPerVec], wb[kElemsPerVec];
          unpack16<WT>(v[c], wa);
          unpack16<WT>(v[kUnitVecs + c], wb);
#pragma unroll
          for (int b = 0; b < NB; ++b) {
            const float* row = xs + b * K;
            const float4 lo = *reinterpret_cast<const float4*>(row + g * 4);
            const float4 hi = *reinterpret_cast<const float4*>(row + K / 2 + g * 4);
            const float x[kElemsPerVec] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
            for (int i = 0; i < kElemsPerVec; ++i) {
              acc[b][0] = fmaf(wa[i], x[i], acc[b][0]);
              acc[b][1] = fmaf(wb[i], x[i], acc[b][1]);
            }
          }
        }
      }
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float s0 = warp_sum(acc[b][0]);
        const float s1 = warp_sum(acc[b][1]);
        if (lane == 0) {
          partial[(lu * NB + b) * 2] = s0;
          partial[(lu * NB + b) * 2 + 1] = s1;
        }
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < tpairs * NB; idx += kThreads) {
      const int pl = idx / NB, b = idx % NB;
      if (b >= rows) continue;
      float s0 = 0.f, s1 = 0.f;
      for (int c = 0; c < j.chunks; ++c) {
        s0 += partial[((pl * j.chunks + c) * NB + b) * 2];
        s1 += partial[((pl * j.chunks + c) * NB + b) * 2 + 1];
      }
      const int pair = tp0 + pl;
      float* y = out + static_cast<int64_t>(b) * ldo;
      if constexpr (E == Epilogue::kSwiGLU) {
        const float g = s0 + (bias != nullptr ? bias[pair] : 0.f);
        const float u = s1 + (bias != nullptr ? bias[j.second_offset + pair] : 0.f);
        y[pair] = silu(g) * u;
      } else {
        const int n0 = pair * 2, n1 = n0 + 1;
        const float v0 = s0 + (bias != nullptr ? bias[n0] : 0.f);
        y[n0] = E == Epilogue::kAccumulate ? __ldcg(y + n0) + v0 : v0;
        if (n1 < j.n_phys) {
          const float v1 = s1 + (bias != nullptr ? bias[n1] : 0.f);
          y[n1] = E == Epilogue::kAccumulate ? __ldcg(y + n1) + v1 : v1;
        }
      }
    }
    __syncthreads();  // partial is reused by the next tile
  }
}

// ---------------------------------------------------------------------------------------------
// Staging of a phase's input rows into shared memory. Sources were written by other blocks
// during this launch, so they are read through L2 (__ldcg), never the non-coherent path.

// Per-thread partial sums of NB rows, reduced over the block (fixed order); every thread gets
// the totals.
template <int NB>
__device__ __forceinline__ void block_sums(float (&v)[NB], float* red) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    const float s = warp_sum(v[b]);
    if (lane == 0) red[warp * NB + b] = s;
  }
  __syncthreads();
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    float s = 0.f;
    for (int w = 0; w < kWarps; ++w) s += red[w * NB + b];  // fixed order
    v[b] = s;
  }
  __syncthreads();  // red is reused by the next call
}

// Normalises rows < rows of xs (raw values already staged) in place: x * inv_rms * w, rounded
// as (x * inv) * w like the rmsnorm kernel; ss holds each thread's partial sums of squares.
template <int NB>
__device__ __forceinline__ void normalize_staged(float* xs, int K, int rows, const float* __restrict__ w,
                                                 float eps, float (&ss)[NB], float* red) {
  block_sums<NB>(ss, red);  // its __syncthreads also publish the raw rows
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    if (b >= rows) continue;
    const float inv = rsqrtf(ss[b] / static_cast<float>(K) + eps);
    for (int i4 = threadIdx.x; i4 < K / 4; i4 += kThreads) {
      float4* p = reinterpret_cast<float4*>(xs_slot(xs, K, b, i4));
      const float4 v = *p;
      const float4 g = __ldg(reinterpret_cast<const float4*>(w) + i4);
      *p = make_float4((v.x * inv) * g.x, (v.y * inv) * g.y, (v.z * inv) * g.z, (v.w * inv) * g.w);
    }
  }
  __syncthreads();
}

// xs[b] = (src[row(b)] * inv_rms) * w for b < rows (row(b) = index ? index[b] : b), zeros above.
// The rows are read from L2 once (into xs), then normalised in shared memory.
template <int NB>
__device__ void stage_rmsnorm(const float* src, int ld, const int32_t* index, int rows,
                              const float* __restrict__ w, int K, float eps, float* xs, float* red) {
  float ss[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    ss[b] = 0.f;
    const float* row = src + static_cast<int64_t>(b < rows && index != nullptr ? index[b] : b) * ld;
    for (int i4 = threadIdx.x; i4 < K / 4; i4 += kThreads) {
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (b < rows) {
        v = __ldcg(reinterpret_cast<const float4*>(row) + i4);
        ss[b] += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
      }
      *reinterpret_cast<float4*>(xs_slot(xs, K, b, i4)) = v;
    }
  }
  normalize_staged<NB>(xs, K, rows, w, eps, ss, red);
}

// xs[b] = src[b] for b < rows, zeros above.
template <int NB>
__device__ void stage_plain(const float* src, int ld, int rows, int K, float* xs) {
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    const float* row = src + static_cast<int64_t>(b) * ld;
    for (int i4 = threadIdx.x; i4 < K / 4; i4 += kThreads) {
      const float4 a = b < rows ? __ldcg(reinterpret_cast<const float4*>(row) + i4)
                                : make_float4(0.f, 0.f, 0.f, 0.f);
      *reinterpret_cast<float4*>(xs_slot(xs, K, b, i4)) = a;
    }
  }
  __syncthreads();
}

// Embedding gather fused with layer 0's attention norm: every block stages the normed rows;
// block 0 also writes the residual stream x (read by the o_proj phase, two barriers later).
template <typename WT, int NB>
__device__ void stage_embedding(const PersistentDecodeArgs& a, const float* __restrict__ norm_w,
                                float* xs, float* red) {
  const int K = a.hidden;
  constexpr int VEC = kVec<WT>;
  float ss[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) {
    ss[b] = 0.f;
    const WT* row = static_cast<const WT*>(a.embed) + static_cast<int64_t>(b < a.rows ? a.tokens[b] : 0) * K;
    for (int i = threadIdx.x * VEC; i < K; i += kThreads * VEC) {
      float e[VEC];
      if (b < a.rows) {
        unpack16<WT>(*reinterpret_cast<const uint4*>(row + i), e);
      } else {
#pragma unroll
        for (int q = 0; q < VEC; ++q) e[q] = 0.f;
      }
#pragma unroll
      for (int q = 0; q < VEC; q += 4) {
        const float4 v = make_float4(e[q], e[q + 1], e[q + 2], e[q + 3]);
        ss[b] += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        *reinterpret_cast<float4*>(xs_slot(xs, K, b, (i + q) / 4)) = v;
        if (blockIdx.x == 0 && b < a.rows)
          *reinterpret_cast<float4*>(a.x + static_cast<int64_t>(b) * K + i + q) = v;
      }
    }
  }
  normalize_staged<NB>(xs, K, a.rows, norm_w, a.eps, ss, red);
}

// ---------------------------------------------------------------------------------------------
// Attention phase.

struct SplitLayout {
  int split_len;
  int splits;
};

// Identical in every block (it depends only on the step's positions), so every block agrees on
// the unit count without communicating; sized so that units ~ grid when the context allows.
__device__ __forceinline__ SplitLayout split_layout(const PersistentDecodeArgs& a) {
  int max_ctx = 1;
  for (int t = 0; t < a.rows; ++t) max_ctx = max(max_ctx, a.positions[t] + 1);
  const int target = max(1, static_cast<int>(gridDim.x) / (a.rows * a.kv.num_kv_heads));
  int len = (max_ctx + target - 1) / target;
  len = (len + kSplitAlign - 1) / kSplitAlign * kSplitAlign;
  len = min(len, a.max_split_len);
  SplitLayout s;
  s.split_len = len;
  s.splits = (max_ctx + len - 1) / len;
  return s;
}

// q/k RMSNorm (optional) and RoPE of one head by one warp, exactly as rope.cu computes it;
// writes the rotated pairs through store(i, r0, r1).
template <typename Store>
__device__ __forceinline__ void rope_head(const float* x, const float* __restrict__ nw, int hd, int pos,
                                          const PersistentDecodeArgs& a, Store store) {
  const int lane = threadIdx.x & 31, half = hd / 2;
  float scale = 1.f;
  if (nw != nullptr) {
    float ss = 0.f;
    for (int i = lane; i < hd; i += 32) {
      const float v = __ldcg(x + i);
      ss += v * v;
    }
    ss = warp_sum(ss);
    scale = rsqrtf(ss / static_cast<float>(hd) + a.eps);
  }
  for (int i = lane; i < half; i += 32) {
    float x0 = __ldcg(x + i), x1 = __ldcg(x + i + half);
    if (nw != nullptr) {
      x0 = nw[i] * (x0 * scale);
      x1 = nw[i + half] * (x1 * scale);
    }
    const float c = a.cos_table[static_cast<int64_t>(pos) * half + i];
    const float s = a.sin_table[static_cast<int64_t>(pos) * half + i];
    const float r0 = x0 * c - x1 * s;
    const float r1 = x1 * c + x0 * s;
    store(i, r0, r1);
  }
}

// Shared-memory floats the attention phase needs.
__host__ __device__ inline size_t attention_smem_floats(int group, int head_dim, int split_len) {
  return static_cast<size_t>(group) * head_dim + static_cast<size_t>(group) * split_len + 2 * group +
         static_cast<size_t>(kThreads) * kElemsPerVec + 4;
}

// One attention unit: (token t, kv head kvh, context split), reading keys [s0, s1).
struct AttnUnit {
  int t, kvh, split, pos, ctx, s0, s1;
  const int32_t* row;  // the sequence's block-table row
};

__device__ __forceinline__ AttnUnit attn_unit(const PersistentDecodeArgs& a, const SplitLayout& sl, int u) {
  const int nkv = a.kv.num_kv_heads;
  AttnUnit w;
  w.t = u / (nkv * sl.splits);
  w.kvh = (u / sl.splits) % nkv;
  w.split = u % sl.splits;
  w.pos = a.positions[w.t];
  w.ctx = w.pos + 1;
  const int lo = a.window > 0 ? max(0, w.ctx - a.window) : 0;
  w.s0 = max(w.split * sl.split_len, lo);
  w.s1 = min(w.ctx, (w.split + 1) * sl.split_len);
  w.row = a.kv.block_tables + static_cast<int64_t>(a.slots[w.t]) * a.kv.max_blocks;
  return w;
}

// This thread's key and value vectors of the first pass of the block's first unit. Every cached
// position but the step's own was written by earlier launches, so they can be loaded while the
// barrier that publishes q|k|v completes; the new position is never prefetched.
struct KvPrefetch {
  uint4 k, v;
};

__device__ __forceinline__ void prefetch_kv(const PersistentDecodeArgs& a, int layer, KvPrefetch& pf) {
  pf.k = pf.v = make_uint4(0, 0, 0, 0);
  const SplitLayout sl = split_layout(a);
  if (static_cast<int>(blockIdx.x) >= a.rows * a.kv.num_kv_heads * sl.splits) return;
  const AttnUnit w = attn_unit(a, sl, blockIdx.x);
  const int LPR = a.head_dim / kElemsPerVec;
  const int p = w.s0 + static_cast<int>(threadIdx.x) / LPR;
  if (p < w.s1 && p != w.pos) {
    const int64_t off = static_cast<int64_t>(layer) * a.layer_pool_elems + kv_offset(a.kv, w.row, p, w.kvh) +
                        (threadIdx.x % LPR) * kElemsPerVec;
    pf.k = *reinterpret_cast<const uint4*>(a.k_pool + off);
    pf.v = *reinterpret_cast<const uint4*>(a.v_pool + off);
  }
}

__device__ __forceinline__ void attention_phase(const PersistentDecodeArgs& a, const PersistentLayer& L, int layer,
                                                float* smem, const KvPrefetch& pf) {
  const int nq = a.num_q_heads, nkv = a.kv.num_kv_heads, hd = a.head_dim;
  const int group = nq / nkv;
  const int qkv_stride = (nq + 2 * nkv) * hd;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const SplitLayout sl = split_layout(a);
  const int units = a.rows * nkv * sl.splits;
  bf16* kpool = a.k_pool + static_cast<int64_t>(layer) * a.layer_pool_elems;
  bf16* vpool = a.v_pool + static_cast<int64_t>(layer) * a.layer_pool_elems;

  float* q_s = smem;                            // [group][hd]
  float* s_s = q_s + group * hd;                // [group][split_len]
  float* ml_s = s_s + group * sl.split_len;     // [group][2]
  float* red = ml_s + 2 * group;                // [RPP][hd] = kThreads * 8 floats
  int* last_s = reinterpret_cast<int*>(red + kThreads * kElemsPerVec);

  const int LPR = hd / kElemsPerVec;            // lanes per key row (2..16)
  const int RPP = kThreads / LPR;               // key rows per pass
  const int rl = tid / LPR, li = tid % LPR;

  for (int u = blockIdx.x; u < units; u += gridDim.x) {
    const AttnUnit w = attn_unit(a, sl, u);
    const int t = w.t, kvh = w.kvh, pos = w.pos, ctx = w.ctx, s0 = w.s0, s1 = w.s1;
    const int32_t* row = w.row;
    const bool prefetched = u == static_cast<int>(blockIdx.x);  // pf holds key s0 + rl's vectors
    const int64_t part_base = (static_cast<int64_t>(t) * nq + kvh * group) * a.max_splits + w.split;
    const float* qkv_t = a.qkv + static_cast<int64_t>(t) * qkv_stride;

    if (s0 < s1) {
      // q heads of the group; the unit holding the new position also caches its key and value.
      const bool owns_new = s1 == ctx;
      const int jobs = group + (owns_new ? 2 : 0);
      for (int h = warp; h < jobs; h += kWarps) {
        if (h < group) {
          float* dst = q_s + h * hd;
          rope_head(qkv_t + (kvh * group + h) * hd, L.q_norm, hd, pos, a,
                    [&](int i, float r0, float r1) { dst[i] = r0; dst[i + hd / 2] = r1; });
        } else if (h == group) {
          bf16* dst = kpool + kv_offset(a.kv, row, pos, kvh);
          rope_head(qkv_t + (nq + kvh) * hd, L.k_norm, hd, pos, a, [&](int i, float r0, float r1) {
            dst[i] = from_f32<bf16>(r0);
            dst[i + hd / 2] = from_f32<bf16>(r1);
          });
        } else {
          const float* src = qkv_t + (nq + nkv + kvh) * hd;
          bf16* dst = vpool + kv_offset(a.kv, row, pos, kvh);
          for (int i = lane; i < hd; i += 32) dst[i] = from_f32<bf16>(__ldcg(src + i));
        }
      }
      __syncthreads();  // q_s, and the new key/value in global memory, visible to the block

      // Scores: LPR lanes share one key row of 16-byte vectors.
      for (int pb = s0; pb < s1; pb += RPP) {
        const int p = pb + rl;
        const bool ok = p < s1;
        float kf[kElemsPerVec];
        if (ok) {
          const uint4 raw = prefetched && pb == s0 && p != pos
                                ? pf.k
                                : *reinterpret_cast<const uint4*>(kpool + kv_offset(a.kv, row, p, kvh) + li * kElemsPerVec);
          unpack16<bf16>(raw, kf);
        } else {
#pragma unroll
          for (int i = 0; i < kElemsPerVec; ++i) kf[i] = 0.f;
        }
        for (int g = 0; g < group; ++g) {
          const float* qg = q_s + g * hd + li * kElemsPerVec;
          float d = 0.f;
#pragma unroll
          for (int i = 0; i < kElemsPerVec; ++i) d = fmaf(qg[i], kf[i], d);
          for (int o = LPR / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
          if (ok && li == 0) s_s[g * sl.split_len + (p - s0)] = d * a.attn_scale;
        }
      }
      __syncthreads();

      // Per-head max and sum over the split; scores become unnormalised weights.
      const int n = s1 - s0;
      for (int g = warp; g < group; g += kWarps) {
        float* sg = s_s + g * sl.split_len;
        float m = -INFINITY;
        for (int i = lane; i < n; i += 32) m = fmaxf(m, sg[i]);
        m = warp_max(m);
        float l = 0.f;
        for (int i = lane; i < n; i += 32) {
          const float e = __expf(sg[i] - m);
          sg[i] = e;
          l += e;
        }
        l = warp_sum(l);
        if (lane == 0) {
          ml_s[2 * g] = m;
          ml_s[2 * g + 1] = l;
        }
      }
      __syncthreads();

      // Weighted sum of values per head; RPP row groups take every RPP-th key, then reduce.
      for (int g = 0; g < group; ++g) {
        const float* wg = s_s + g * sl.split_len;
        float acc[kElemsPerVec];
#pragma unroll
        for (int i = 0; i < kElemsPerVec; ++i) acc[i] = 0.f;
        for (int p = s0 + rl; p < s1; p += RPP) {
          float vf[kElemsPerVec];
          const uint4 raw = prefetched && p == s0 + rl && p != pos
                                ? pf.v
                                : *reinterpret_cast<const uint4*>(vpool + kv_offset(a.kv, row, p, kvh) + li * kElemsPerVec);
          unpack16<bf16>(raw, vf);
          const float w = wg[p - s0];
#pragma unroll
          for (int i = 0; i < kElemsPerVec; ++i) acc[i] = fmaf(w, vf[i], acc[i]);
        }
#pragma unroll
        for (int i = 0; i < kElemsPerVec; ++i) red[rl * hd + li * kElemsPerVec + i] = acc[i];
        __syncthreads();
        for (int d = tid; d < hd; d += kThreads) {
          float s = 0.f;
          for (int r = 0; r < RPP; ++r) s += red[r * hd + d];
          a.part_o[(part_base + static_cast<int64_t>(g) * a.max_splits) * hd + d] = s;
        }
        if (tid == 0) {
          a.part_ml[(part_base + static_cast<int64_t>(g) * a.max_splits) * 2] = ml_s[2 * g];
          a.part_ml[(part_base + static_cast<int64_t>(g) * a.max_splits) * 2 + 1] = ml_s[2 * g + 1];
        }
        __syncthreads();  // red is reused by the next head
      }
    } else {
      // Nothing to read (beyond this row's context or before its window): mark the split empty.
      for (int g = tid; g < group; g += kThreads) {
        a.part_ml[(part_base + static_cast<int64_t>(g) * a.max_splits) * 2] = -INFINITY;
        a.part_ml[(part_base + static_cast<int64_t>(g) * a.max_splits) * 2 + 1] = 0.f;
      }
    }

    // The last unit of this (token, kv head) to finish merges the splits (threadfence
    // reduction): no grid barrier between the split-K pass and its merge.
    __syncthreads();
    if (tid == 0) {
      unsigned* counter = a.merge_counters + t * nkv + kvh;
      const unsigned done = atomic_add_acq_rel_gpu(counter, 1u);  // releases this unit's parts,
      const int last = done == static_cast<unsigned>(sl.splits - 1);  // acquires the others'
      if (last) atomicExch(counter, 0u);  // next layer's attention comes after grid barriers
      *last_s = last;
    }
    __syncthreads();
    if (*last_s) {
      for (int i = tid; i < group * hd; i += kThreads) {
        const int g = i / hd, d = i % hd;
        const int qh = kvh * group + g;
        const int64_t base = (static_cast<int64_t>(t) * nq + qh) * a.max_splits;
        float m = -INFINITY;
        for (int s = 0; s < sl.splits; ++s) m = fmaxf(m, __ldcg(a.part_ml + (base + s) * 2));
        float l = 0.f, o = 0.f;
        for (int s = 0; s < sl.splits; ++s) {
          const float ls = __ldcg(a.part_ml + (base + s) * 2 + 1);
          if (ls == 0.f) continue;  // empty split: its part_o was never written
          const float w = __expf(__ldcg(a.part_ml + (base + s) * 2) - m);
          l += w * ls;
          o += w * __ldcg(a.part_o + (base + s) * hd + d);
        }
        a.att[static_cast<int64_t>(t) * nq * hd + qh * hd + d] = o / l;
      }
    }
    __syncthreads();  // shared memory and last_s are reused by the next unit
  }
}

// ---------------------------------------------------------------------------------------------
// The step.

// Ends a phase: arrives at the grid barrier, issues the first weight loads of the next phase's
// job while the other blocks arrive, then waits.
template <typename WT>
__device__ __forceinline__ void barrier_prefetching(GridBarrierState* bar, const MvJob& next, uint4 (&pre)[2 * kUnitVecs]) {
  const unsigned long long target = grid_arrive(bar);
  prefetch_first_unit<WT>(next, pre);
  grid_wait(bar, target);
}

template <typename WT, int NB>
__global__ void __launch_bounds__(kThreads, 1) decode_step_kernel(__grid_constant__ const PersistentDecodeArgs a) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* xs = smem;                                  // [NB][kmax] staged activations
  float* partial = xs + static_cast<size_t>(NB) * a.kmax;  // [kPartialFloats]
  float* red = partial + kPartialFloats;             // [kWarps * NB]

  const int H = a.hidden, I = a.inter;
  const int Q = a.num_q_heads * a.head_dim;
  const int QKV = Q + 2 * a.kv.num_kv_heads * a.head_dim;
  uint4 pre[2 * kUnitVecs];
  KvPrefetch kv_pre;

  // Layer pointers are read from the table where they are used rather than held in registers
  // (twelve pointers across the whole layer would cost 24 of the 128 registers).
  MvJob job = make_job(a.layers[0].qkv, QKV, H, false, NB);
  prefetch_first_unit<WT>(job, pre);
  stage_embedding<WT, NB>(a, a.layers[0].attn_norm, xs, red);

  for (int l = 0; l < a.num_layers; ++l) {
    const PersistentLayer& L = a.layers[l];
    // 1. q|k|v projection of the attention-normed rows (staged before the loop for layer 0).
    if (l > 0) stage_rmsnorm<NB>(a.x, H, nullptr, a.rows, L.attn_norm, H, a.eps, xs, red);
    run_matvec<WT, NB, Epilogue::kStore>(job, xs, partial, pre, L.qkv_bias, a.qkv, QKV, a.rows);
    const unsigned long long target = grid_arrive(a.barrier);
    prefetch_kv(a, l, kv_pre);
    grid_wait(a.barrier, target);

    // 2. attention; then the o_proj weights start moving before the barrier.
    attention_phase(a, L, l, smem, kv_pre);
    job = make_job(L.o, H, Q, false, NB);
    barrier_prefetching<WT>(a.barrier, job, pre);

    // 3. o_proj + residual.
    stage_plain<NB>(a.att, Q, a.rows, Q, xs);
    run_matvec<WT, NB, Epilogue::kAccumulate>(job, xs, partial, pre, L.o_bias, a.x, H, a.rows);
    job = make_job(L.gate_up, 2 * I, H, true, NB);
    barrier_prefetching<WT>(a.barrier, job, pre);

    // 4. gate|up of the ffn-normed rows, SiLU(gate) * up.
    stage_rmsnorm<NB>(a.x, H, nullptr, a.rows, L.ffn_norm, H, a.eps, xs, red);
    run_matvec<WT, NB, Epilogue::kSwiGLU>(job, xs, partial, pre, L.gate_up_bias, a.act, I, a.rows);
    job = make_job(L.down, H, I, false, NB);
    barrier_prefetching<WT>(a.barrier, job, pre);

    // 5. down + residual; then the next layer's q|k|v (or lm_head) weights start moving.
    stage_plain<NB>(a.act, I, a.rows, I, xs);
    run_matvec<WT, NB, Epilogue::kAccumulate>(job, xs, partial, pre, L.down_bias, a.x, H, a.rows);
    if (l + 1 < a.num_layers) {
      job = make_job(a.layers[l + 1].qkv, QKV, H, false, NB);
    } else {
      job = make_job(a.lm_head, a.num_logit_rows > 0 ? a.vocab : 0, H, false, NB);
    }
    barrier_prefetching<WT>(a.barrier, job, pre);
  }

  // Final norm of the output rows and lm_head.
  if (a.num_logit_rows > 0) {
    stage_rmsnorm<NB>(a.x, H, a.logit_rows, a.num_logit_rows, a.final_norm, H, a.eps, xs, red);
    run_matvec<WT, NB, Epilogue::kStore>(job, xs, partial, pre, nullptr, a.logits, a.vocab,
                                         a.num_logit_rows);
  }
}

template <typename WT>
using KernelPtr = void (*)(const PersistentDecodeArgs);

template <typename WT>
KernelPtr<WT> kernel_for_rows(int rows) {
  if (rows <= 1) return decode_step_kernel<WT, 1>;
  if (rows == 2) return decode_step_kernel<WT, 2>;
  return decode_step_kernel<WT, 4>;
}

inline int nb_for_rows(int rows) { return rows <= 1 ? 1 : rows == 2 ? 2 : 4; }

}  // namespace persistent

// ---------------------------------------------------------------------------------------------
// Host side.

template <typename WT>
cudaError_t plan_persistent_decode(const PersistentDecodeShape& s, int device,
                                   PersistentDecodePlan* plan, const char** why) {
  using namespace persistent;
  *plan = PersistentDecodePlan{};
  *why = nullptr;
  const int hd = s.head_dim;
  if (s.num_kv_heads <= 0 || s.num_q_heads % s.num_kv_heads != 0) {
    *why = "num_heads is not a multiple of num_kv_heads";
    return cudaSuccess;
  }
  if (hd != 16 && hd != 32 && hd != 64 && hd != 128) {
    *why = "head_dim is not 16, 32, 64 or 128";
    return cudaSuccess;
  }
  const int q_dim = s.num_q_heads * hd;
  if (s.hidden % kElemsPerVec || s.inter % kElemsPerVec || q_dim % kElemsPerVec) {
    *why = "hidden, intermediate and q sizes must be multiples of 8 (16-byte weight loads)";
    return cudaSuccess;
  }
  int coop = 0, sms = 0, optin = 0;
  cudaError_t e = cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, device);
  if (e != cudaSuccess) return e;
  e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (e != cudaSuccess) return e;
  e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  if (e != cudaSuccess) return e;
  if (!coop) {
    *why = "the device does not support cooperative launch";
    return cudaSuccess;
  }

  const int group = s.num_q_heads / s.num_kv_heads;
  const int kmax = std::max(std::max(s.hidden, q_dim), s.inter);
  int split = kMaxSplitLen;
  while (split > kSplitAlign && attention_smem_floats(group, hd, split) * 4 > static_cast<size_t>(optin))
    split /= 2;
  const size_t att_bytes = attention_smem_floats(group, hd, split) * 4;
  if (att_bytes > static_cast<size_t>(optin)) {
    *why = "attention does not fit in shared memory (too many q heads per kv head)";
    return cudaSuccess;
  }

  bool any = false;
  for (int rows = 1; rows <= kPersistentMaxRows; ++rows) {
    const int nb = nb_for_rows(rows);
    const int chunks = (kmax + kUnitK - 1) / kUnitK;
    if (kPartialFloats / (nb * 2 * chunks) < 1) continue;  // a row wider than 256K elements
    const size_t mv_bytes =
        (static_cast<size_t>(nb) * kmax + kPartialFloats + static_cast<size_t>(kWarps) * nb) * 4;
    const size_t bytes = std::max(mv_bytes, att_bytes);
    if (bytes > static_cast<size_t>(optin)) continue;
    KernelPtr<WT> k = kernel_for_rows<WT>(rows);
    e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    if (e != cudaSuccess) return e;
    int per_sm = 0;
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, kThreads, bytes);
    if (e != cudaSuccess) return e;
    if (per_sm < 1) continue;
    plan->smem[rows] = bytes;
    any = true;
  }
  if (!any) {
    *why = "the activations of one row do not fit in shared memory";
    return cudaSuccess;
  }
  plan->grid = sms;
  plan->max_split_len = split;
  plan->max_splits = std::max(std::max(1, sms / s.num_kv_heads), (s.max_seq_len + split - 1) / split);
  plan->kmax = kmax;
  return cudaSuccess;
}

size_t persistent_decode_workspace_floats(const PersistentDecodeShape& s, const PersistentDecodePlan& p) {
  const size_t parts = static_cast<size_t>(kPersistentMaxRows) * s.num_q_heads * p.max_splits;
  return parts * (static_cast<size_t>(s.head_dim) + 2);
}

template <typename WT>
cudaError_t launch_persistent_decode(const PersistentDecodeArgs& args, const PersistentDecodePlan& plan,
                                     cudaStream_t stream) {
  using namespace persistent;
  if (args.rows < 1 || args.rows > kPersistentMaxRows || plan.grid <= 0 || plan.smem[args.rows] == 0 ||
      args.num_logit_rows < 0 || args.num_logit_rows > args.rows)
    return cudaErrorInvalidValue;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(plan.grid);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = plan.smem[args.rows];
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel_for_rows<WT>(args.rows), args);
}

template cudaError_t plan_persistent_decode<bf16>(const PersistentDecodeShape&, int, PersistentDecodePlan*, const char**);
template cudaError_t plan_persistent_decode<f16>(const PersistentDecodeShape&, int, PersistentDecodePlan*, const char**);
template cudaError_t launch_persistent_decode<bf16>(const PersistentDecodeArgs&, const PersistentDecodePlan&, cudaStream_t);
template cudaError_t launch_persistent_decode<f16>(const PersistentDecodeArgs&, const PersistentDecodePlan&, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
