#include "attention.cuh"

namespace inferkit {
namespace cuda {

bool attention_supports_head_dim(int hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128; }

// ---------------------------------------------------------------------------------------------
// Decode: split-K.

static size_t decode_smem_bytes(int group, int head_dim, int split_len) {
  // q, scores, (max, sum) per head, and the value-reduction buffer (RPP * HD <= 128 * 8).
  return (static_cast<size_t>(group) * head_dim + static_cast<size_t>(group) * split_len +
          2 * group + kAttentionThreads * 8) * sizeof(float);
}

static int min_split_len(int group) {
  int split = 32;
  while (split > kKvBlockTokens && decode_smem_bytes(group, 128, split) > 48 * 1024) split /= 2;
  return split;
}

size_t attention_decode_workspace_bytes(int num_tokens, int num_q_heads, int head_dim,
                                        int max_ctx, int group) {
  const int splits = (max_ctx + min_split_len(group) - 1) / min_split_len(group);
  const size_t parts = static_cast<size_t>(num_tokens) * num_q_heads * splits;
  return parts * (head_dim + 2) * sizeof(float);
}

int attention_decode_split_len(int num_tokens, int num_kv_heads, int max_ctx, int group) {
  // Enough blocks to cover the chip a few times, but splits long enough that the merge and the
  // per-block setup stay small next to the key/value reads. (64 as the shortest split left a
  // batch-1 step at ctx 256 with 32 blocks and 17 us per layer on an H200.)
  int split = 32;
  while (split < 1024 &&
         static_cast<int64_t>(num_tokens) * num_kv_heads * ((max_ctx + split - 1) / split) > 2048)
    split *= 2;
  while (split > kKvBlockTokens && decode_smem_bytes(group, 128, split) > 48 * 1024) split /= 2;
  return split;
}

template <typename KT, int HD>
__global__ void __launch_bounds__(kAttentionThreads)
attention_decode_kernel(AttentionArgs a, KvView kv, const KT* __restrict__ k_pool,
                        const KT* __restrict__ v_pool, int group, int split_len, int num_splits,
                        float* __restrict__ part_o, float* __restrict__ part_ml) {
  constexpr int VEC = kVec<KT>;
  constexpr int LPR = HD / VEC;               // lanes sharing one key row
  constexpr int RPP = kAttentionThreads / LPR;  // key rows per pass
  static_assert(LPR >= 1 && LPR <= 32 && (32 % LPR) == 0, "unsupported head_dim");

  extern __shared__ float sm[];
  float* q_s = sm;                            // [group][HD]
  float* s_s = q_s + group * HD;              // [group][split_len]
  float* ml_s = s_s + group * split_len;      // [group][2]
  float* red = ml_s + 2 * group;              // [RPP][HD]

  pdl_wait();
  pdl_trigger();
  const int kvh = blockIdx.x, t = blockIdx.y, split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int ctx = a.positions[t] + 1;
  const int lo = a.window > 0 ? max(0, ctx - a.window) : 0;
  const int s0 = max(split * split_len, lo);
  const int s1 = min(ctx, (split + 1) * split_len);
  const int nq = a.num_q_heads;
  const int64_t part_base = (static_cast<int64_t>(t) * nq + kvh * group) * num_splits + split;

  if (s0 >= ctx || s0 >= (split + 1) * split_len) {  // nothing to read: mark the split empty
    for (int g = tid; g < group; g += blockDim.x) {
      part_ml[(part_base + static_cast<int64_t>(g) * num_splits) * 2] = -INFINITY;
      part_ml[(part_base + static_cast<int64_t>(g) * num_splits) * 2 + 1] = 0.f;
    }
    return;
  }
  const int32_t* row = kv.block_tables + static_cast<int64_t>(a.slots[t]) * kv.max_blocks;

  for (int i = tid; i < group * HD; i += blockDim.x)
    q_s[i] = a.q[static_cast<int64_t>(t) * a.q_stride + (kvh * group) * HD + i];
  __syncthreads();

  // Phase 1: scores. LPR lanes split one key row into 16-byte vectors.
  const int rl = tid / LPR, li = tid % LPR;
  for (int pb = s0; pb < s1; pb += RPP) {
    const int p = pb + rl;
    const bool ok = p < s1;
    float kf[VEC];
    if (ok) {
      const uint4 raw = *reinterpret_cast<const uint4*>(k_pool + kv_offset(kv, row, p, kvh) + li * VEC);
      unpack16<KT>(raw, kf);
    } else {
#pragma unroll
      for (int i = 0; i < VEC; ++i) kf[i] = 0.f;
    }
    for (int g = 0; g < group; ++g) {
      const float* qg = q_s + g * HD + li * VEC;
      float d = 0.f;
#pragma unroll
      for (int i = 0; i < VEC; ++i) d = fmaf(qg[i], kf[i], d);
#pragma unroll
      for (int o = LPR / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
      if (ok && li == 0) s_s[g * split_len + (p - s0)] = d * a.scale;
    }
  }
  __syncthreads();

  // Phase 2: per-head max and sum over this split; scores become unnormalised weights.
  const int n = s1 - s0;
  for (int g = warp; g < group; g += kAttentionThreads / 32) {
    float* sg = s_s + g * split_len;
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

  // Phase 3: weighted sum of values; RPP row groups each take every RPP-th key, then reduce.
  for (int g = 0; g < group; ++g) {
    const float* wg = s_s + g * split_len;
    float acc[VEC];
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = 0.f;
    for (int p = s0 + rl; p < s1; p += RPP) {
      float vf[VEC];
      const uint4 raw = *reinterpret_cast<const uint4*>(v_pool + kv_offset(kv, row, p, kvh) + li * VEC);
      unpack16<KT>(raw, vf);
      const float w = wg[p - s0];
#pragma unroll
      for (int i = 0; i < VEC; ++i) acc[i] = fmaf(w, vf[i], acc[i]);
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) red[rl * HD + li * VEC + i] = acc[i];
    __syncthreads();
    for (int d = tid; d < HD; d += blockDim.x) {
      float s = 0.f;
      for (int r = 0; r < RPP; ++r) s += red[r * HD + d];
      part_o[(part_base + static_cast<int64_t>(g) * num_splits) * HD + d] = s;
    }
    if (tid == 0) {
      part_ml[(part_base + static_cast<int64_t>(g) * num_splits) * 2] = ml_s[2 * g];
      part_ml[(part_base + static_cast<int64_t>(g) * num_splits) * 2 + 1] = ml_s[2 * g + 1];
    }
    __syncthreads();  // red is reused by the next head
  }
}

template <typename OT, int HD>
__global__ void attention_merge_kernel(const float* __restrict__ part_o,
                                       const float* __restrict__ part_ml, int num_splits, int nq,
                                       OT* __restrict__ out) {
  pdl_wait();
  pdl_trigger();
  const int qh = blockIdx.x, t = blockIdx.y, d = threadIdx.x;
  const int64_t base = (static_cast<int64_t>(t) * nq + qh) * num_splits;
  float m = -INFINITY;
  for (int s = 0; s < num_splits; ++s) m = fmaxf(m, part_ml[(base + s) * 2]);
  float l = 0.f, o = 0.f;
  for (int s = 0; s < num_splits; ++s) {
    const float ls = part_ml[(base + s) * 2 + 1];
    if (ls == 0.f) continue;  // empty split: its part_o was never written
    const float w = __expf(part_ml[(base + s) * 2] - m);
    l += w * ls;
    o += w * part_o[(base + s) * HD + d];
  }
  out[(static_cast<int64_t>(t) * nq + qh) * HD + d] = from_f32<OT>(o / l);
}

template <typename KT, typename OT, int HD>
static cudaError_t decode_hd(const AttentionArgs& a, const KvView& kv, const KT* k_pool,
                             const KT* v_pool, int max_ctx, void* workspace, cudaStream_t stream) {
  const int group = a.num_q_heads / kv.num_kv_heads;
  const int split_len = attention_decode_split_len(a.num_tokens, kv.num_kv_heads, max_ctx, group);
  const int num_splits = (max_ctx + split_len - 1) / split_len;
  float* part_o = static_cast<float*>(workspace);
  float* part_ml = part_o + static_cast<size_t>(a.num_tokens) * a.num_q_heads * num_splits * HD;
  const size_t smem = decode_smem_bytes(group, HD, split_len);
  const dim3 grid(kv.num_kv_heads, a.num_tokens, num_splits);
  cudaError_t e = launch_k(attention_decode_kernel<KT, HD>, grid, dim3(kAttentionThreads), smem, stream,
                           a, kv, k_pool, v_pool, group, split_len, num_splits, part_o, part_ml);
  if (e != cudaSuccess) return e;
  return launch_k(attention_merge_kernel<OT, HD>, dim3(a.num_q_heads, a.num_tokens), dim3(HD), 0, stream,
                  static_cast<const float*>(part_o), static_cast<const float*>(part_ml), num_splits,
                  a.num_q_heads, static_cast<OT*>(a.out));
}

template <typename KT, typename OT>
cudaError_t launch_attention_decode(const AttentionArgs& a, const KvView& kv, const KT* k_pool,
                                    const KT* v_pool, int max_ctx, void* workspace,
                                    cudaStream_t stream) {
  if (a.num_tokens <= 0) return cudaSuccess;
  switch (kv.head_dim) {
    case 16: return decode_hd<KT, OT, 16>(a, kv, k_pool, v_pool, max_ctx, workspace, stream);
    case 32: return decode_hd<KT, OT, 32>(a, kv, k_pool, v_pool, max_ctx, workspace, stream);
    case 64: return decode_hd<KT, OT, 64>(a, kv, k_pool, v_pool, max_ctx, workspace, stream);
    case 128: return decode_hd<KT, OT, 128>(a, kv, k_pool, v_pool, max_ctx, workspace, stream);
    default: return cudaErrorInvalidValue;
  }
}

// ---------------------------------------------------------------------------------------------
// Prefill: tiled online softmax.

template <int HD> struct PrefillShape {
  static constexpr int DPT = HD < 16 ? HD : 16;          // dims per thread
  static constexpr int TPR = HD / DPT;                   // threads per query row
  static constexpr int ROWS = kAttentionThreads / TPR;   // query rows per block
};

int prefill_tile_rows(int hd) {
  switch (hd) {
    case 16: return PrefillShape<16>::ROWS;
    case 32: return PrefillShape<32>::ROWS;
    case 64: return PrefillShape<64>::ROWS;
    case 128: return PrefillShape<128>::ROWS;
    default: return 0;
  }
}

template <typename KT, typename OT, int HD>
__global__ void __launch_bounds__(kAttentionThreads)
attention_prefill_kernel(AttentionArgs a, KvView kv, const KT* __restrict__ k_pool,
                         const KT* __restrict__ v_pool, const PrefillTile* __restrict__ tiles) {
  using S = PrefillShape<HD>;
  constexpr int DPT = S::DPT, TPR = S::TPR, NV = DPT / 4;
  constexpr int VEC = kVec<KT>;
  constexpr int KN = kPrefillKeyTile;
  __shared__ __align__(16) float k_s[KN][HD];
  __shared__ __align__(16) float v_s[KN][HD];

  pdl_wait();
  pdl_trigger();
  const PrefillTile tile = tiles[blockIdx.x];
  const int qh = blockIdx.y;
  const int group = a.num_q_heads / kv.num_kv_heads;
  const int kvh = qh / group;
  const int tid = threadIdx.x;
  const int r = tid / TPR, j = tid % TPR;
  const bool row_ok = r < tile.nrows;
  const int trow = tile.row0 + (row_ok ? r : 0);
  const int qp = row_ok ? a.positions[trow] : -1;
  const int32_t* brow = kv.block_tables + static_cast<int64_t>(a.slots[tile.row0]) * kv.max_blocks;

  // Thread j of a row owns dims v*(TPR*4) + j*4 + c: neighbouring threads read neighbouring
  // float4s of a shared-memory row, so the reads are conflict-free.
  float q[DPT], o[DPT];
  const float* qsrc = a.q + static_cast<int64_t>(trow) * a.q_stride + qh * HD;
#pragma unroll
  for (int v = 0; v < NV; ++v) {
    const float4 x = *reinterpret_cast<const float4*>(qsrc + v * TPR * 4 + j * 4);
    q[v * 4] = x.x * a.scale; q[v * 4 + 1] = x.y * a.scale;
    q[v * 4 + 2] = x.z * a.scale; q[v * 4 + 3] = x.w * a.scale;
  }
#pragma unroll
  for (int i = 0; i < DPT; ++i) o[i] = 0.f;
  float m = -INFINITY, l = 0.f;

  const int nkeys = tile.max_pos + 1;
  // With a window, keys below the tile's lowest visible position are skipped a tile at a time.
  const int first_key = a.window > 0 ? max(0, tile.min_pos - a.window + 1) / KN * KN : 0;
  const int qlo = a.window > 0 ? qp - a.window + 1 : 0;
  for (int k0 = first_key; k0 < nkeys; k0 += KN) {
    __syncthreads();  // previous tile fully consumed
    for (int idx = tid; idx < KN * (HD / VEC); idx += kAttentionThreads) {
      const int kr = idx / (HD / VEC), kc = (idx % (HD / VEC)) * VEC;
      const int p = k0 + kr;
      float kf[VEC], vf[VEC];
      if (p < nkeys) {
        const int64_t off = kv_offset(kv, brow, p, kvh) + kc;
        unpack16<KT>(*reinterpret_cast<const uint4*>(k_pool + off), kf);
        unpack16<KT>(*reinterpret_cast<const uint4*>(v_pool + off), vf);
      } else {
#pragma unroll
        for (int i = 0; i < VEC; ++i) kf[i] = vf[i] = 0.f;
      }
#pragma unroll
      for (int i = 0; i < VEC; ++i) {
        k_s[kr][kc + i] = kf[i];
        v_s[kr][kc + i] = vf[i];
      }
    }
    __syncthreads();

    float s[KN];
    float tmax = -INFINITY;
#pragma unroll
    for (int kk = 0; kk < KN; ++kk) {
      float d = 0.f;
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        const float4 kx = *reinterpret_cast<const float4*>(&k_s[kk][v * TPR * 4 + j * 4]);
        d = fmaf(q[v * 4], kx.x, d); d = fmaf(q[v * 4 + 1], kx.y, d);
        d = fmaf(q[v * 4 + 2], kx.z, d); d = fmaf(q[v * 4 + 3], kx.w, d);
      }
#pragma unroll
      for (int off = TPR / 2; off > 0; off >>= 1) d += __shfl_xor_sync(0xffffffffu, d, off);
      const int kp = k0 + kk;
      s[kk] = (kp <= qp && kp >= qlo) ? d : -INFINITY;  // causal/window mask, padding keys too
      tmax = fmaxf(tmax, s[kk]);
    }
    const float m_new = fmaxf(m, tmax);
    if (m_new == -INFINITY) continue;  // row has no visible key in this tile (or no row)
    const float corr = __expf(m - m_new);
    l *= corr;
#pragma unroll
    for (int i = 0; i < DPT; ++i) o[i] *= corr;
#pragma unroll
    for (int kk = 0; kk < KN; ++kk) {
      const float p = __expf(s[kk] - m_new);
      l += p;
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        const float4 vx = *reinterpret_cast<const float4*>(&v_s[kk][v * TPR * 4 + j * 4]);
        o[v * 4] = fmaf(p, vx.x, o[v * 4]); o[v * 4 + 1] = fmaf(p, vx.y, o[v * 4 + 1]);
        o[v * 4 + 2] = fmaf(p, vx.z, o[v * 4 + 2]); o[v * 4 + 3] = fmaf(p, vx.w, o[v * 4 + 3]);
      }
    }
    m = m_new;
  }

  if (!row_ok) return;
  OT* dst = static_cast<OT*>(a.out) + (static_cast<int64_t>(trow) * a.num_q_heads + qh) * HD;
  const float inv = 1.f / l;
#pragma unroll
  for (int v = 0; v < NV; ++v)
#pragma unroll
    for (int c = 0; c < 4; ++c) dst[v * TPR * 4 + j * 4 + c] = from_f32<OT>(o[v * 4 + c] * inv);
}

template <typename KT, typename OT>
cudaError_t launch_attention_prefill(const AttentionArgs& a, const KvView& kv, const KT* k_pool,
                                     const KT* v_pool, const PrefillTile* tiles, int num_tiles,
                                     cudaStream_t stream) {
  if (num_tiles <= 0) return cudaSuccess;
  const dim3 grid(num_tiles, a.num_q_heads);
  switch (kv.head_dim) {
    case 16: return launch_k(attention_prefill_kernel<KT, OT, 16>, grid, dim3(kAttentionThreads), 0, stream, a, kv, k_pool, v_pool, tiles);
    case 32: return launch_k(attention_prefill_kernel<KT, OT, 32>, grid, dim3(kAttentionThreads), 0, stream, a, kv, k_pool, v_pool, tiles);
    case 64: return launch_k(attention_prefill_kernel<KT, OT, 64>, grid, dim3(kAttentionThreads), 0, stream, a, kv, k_pool, v_pool, tiles);
    case 128: return launch_k(attention_prefill_kernel<KT, OT, 128>, grid, dim3(kAttentionThreads), 0, stream, a, kv, k_pool, v_pool, tiles);
    default: return cudaErrorInvalidValue;
  }
}

#define IK_ATTENTION_INSTANTIATE(KT, OT)                                                      \
  template cudaError_t launch_attention_decode<KT, OT>(const AttentionArgs&, const KvView&,  \
                                                       const KT*, const KT*, int, void*,      \
                                                       cudaStream_t);                         \
  template cudaError_t launch_attention_prefill<KT, OT>(const AttentionArgs&, const KvView&, \
                                                        const KT*, const KT*,                 \
                                                        const PrefillTile*, int, cudaStream_t);
IK_ATTENTION_INSTANTIATE(float, float)
IK_ATTENTION_INSTANTIATE(bf16, float)
IK_ATTENTION_INSTANTIATE(bf16, bf16)
IK_ATTENTION_INSTANTIATE(bf16, f16)
#undef IK_ATTENTION_INSTANTIATE

}  // namespace cuda
}  // namespace inferkit
