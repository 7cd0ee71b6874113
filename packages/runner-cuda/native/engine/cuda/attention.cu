#include "attention.cuh"

#include <climits>
#include <type_traits>

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

// ---------------------------------------------------------------------------------------------
// Prefill on tensor cores (flash-attention-2 layout), for BF16 caches; opt-in through
// INFERKIT_CUDA_EXPERIMENTAL=1 until the GPU harness has passed it.
//
// One block takes one PrefillTile (R = PrefillShape<HD>::ROWS rows, the backend's tiling) for
// hpb q heads of one GQA group, so the K/V tiles it stages are shared by every head it holds.
// Its M = R * hpb query rows are cut into 16-row warp slabs (a slab never straddles a head, as
// R is a multiple of 16), at most kTcWarps of them. Keys come in stages of KN through a
// two-buffer cp.async pipeline. Per stage and warp, with mma.sync m16n8k16 (BF16 in, F32
// accumulate): S = Q K^T with Q held in registers for the whole walk, online softmax on the S
// accumulators in F32, then O += P V where P is repacked from the S accumulators straight
// into A fragments (the m16n8 C layout of two neighbouring key octets is the m16k16 A layout).
//
// Rounding against the F32 kernel: Q is rounded to BF16 once, and each softmax weight to BF16
// before P V; the row sum l adds up those rounded weights, so the output stays an exact convex
// combination of value rows whose weights are off by at most 2^-8 relative.

constexpr int kTcWarps = 8;

template <int HD> struct TcShape {
  static constexpr int R = PrefillShape<HD>::ROWS;       // rows per PrefillTile
  static constexpr int MAX_HPB = kTcWarps * 16 / R;      // heads per block at most
  static constexpr int KN = HD >= 128 ? 32 : 64;         // keys per stage
  static constexpr int LD = HD + 8;                      // padded smem row: ldmatrix rows of
                                                         // 8 neighbouring keys hit distinct banks
  static constexpr int STAGE = KN * LD;                  // elements of one K (or V) stage
  static_assert(R % 16 == 0 && MAX_HPB >= 1, "a warp slab must sit inside one head");
  static_assert(HD % 16 == 0 && KN % 16 == 0, "mma.sync m16n8k16 tiling");
  // Two stages of K and V: 12, 20, 36 and 34 KiB for head_dim 16, 32, 64 and 128.
  static_assert(2 * 2 * STAGE * sizeof(bf16) <= 48 * 1024, "static shared memory limit");
};

namespace tc {

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

// d += a * b for one m16n8k16 tile (BF16 inputs, F32 accumulators).
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as one BF16 pair, the lower column in the low half (the mma operand order).
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <typename OT> __device__ __forceinline__ void store2(OT* p, float x, float y);
template <> __device__ __forceinline__ void store2<float>(float* p, float x, float y) {
  *reinterpret_cast<float2*>(p) = make_float2(x, y);
}
template <> __device__ __forceinline__ void store2<bf16>(bf16* p, float x, float y) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
}
template <> __device__ __forceinline__ void store2<f16>(f16* p, float x, float y) {
  *reinterpret_cast<__half2*>(p) = __floats2half2_rn(x, y);
}

}  // namespace tc

template <typename OT, int HD>
__global__ void __launch_bounds__(kTcWarps * 32, HD >= 128 ? 1 : 2)
attention_prefill_tc_kernel(AttentionArgs a, KvView kv, const bf16* __restrict__ k_pool,
                            const bf16* __restrict__ v_pool, const PrefillTile* __restrict__ tiles,
                            int num_tiles, int hpb, int chunks) {
  using S = TcShape<HD>;
  constexpr int R = S::R, KN = S::KN, LD = S::LD;
  constexpr int KC = HD / 16;   // k16 steps of Q K^T
  constexpr int NT = KN / 8;    // n8 key octets of S
  constexpr int DT = HD / 8;    // n8 dim octets of O
  constexpr int CPR = HD / 8;   // 16-byte chunks per K/V row
  __shared__ __align__(16) bf16 kv_s[2][2][S::STAGE];  // [stage][K, V][key][LD]

  pdl_wait();
  pdl_trigger();
  // Later tiles of a sequence see more keys: start those first so the short ones fill the tail.
  const PrefillTile tile = tiles[num_tiles - 1 - blockIdx.x];
  const int group = a.num_q_heads / kv.num_kv_heads;
  const int kvh = blockIdx.y / chunks, chunk = blockIdx.y % chunks;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int gq = lane >> 2, tq = lane & 3;  // mma fragment row group and column pair

  const int slab = warp * 16;
  const int gi = chunk * hpb + slab / R;    // head within the group
  const int r0 = slab % R;                  // first tile row of the slab
  const bool active = gi < group && r0 < tile.nrows;
  const int qh = kvh * group + gi;

  // This thread's two rows (slab rows gq and gq + 8): position and lowest visible key. A row
  // past the tile's end sees nothing (qp = -1) and is never stored.
  int qp[2], qlo[2];
  bool rv[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = r0 + gq + 8 * h;
    rv[h] = active && r < tile.nrows;
    qp[h] = rv[h] ? a.positions[tile.row0 + r] : -1;
    qlo[h] = a.window > 0 ? qp[h] - a.window + 1 : 0;
  }
  // Warp-wide key range of the valid rows, to skip stages the slab cannot see and the mask
  // where every key of a stage is visible to every row.
  const int w_hi = __reduce_max_sync(0xffffffffu, max(qp[0], qp[1]));
  const int w_qp_min = __reduce_min_sync(0xffffffffu, min(rv[0] ? qp[0] : INT_MAX, rv[1] ? qp[1] : INT_MAX));
  const int w_lo = __reduce_min_sync(0xffffffffu, min(rv[0] ? qlo[0] : INT_MAX, rv[1] ? qlo[1] : INT_MAX));
  const int w_lo_max = __reduce_max_sync(0xffffffffu, max(rv[0] ? qlo[0] : INT_MIN, rv[1] ? qlo[1] : INT_MIN));

  // Q as A fragments, rounded to BF16 once.
  uint32_t qa[KC][4];
#pragma unroll
  for (int kc = 0; kc < KC; ++kc)
#pragma unroll
    for (int i = 0; i < 4; ++i) qa[kc][i] = 0u;
  if (active) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if (!rv[h]) continue;
      const float* src = a.q + static_cast<int64_t>(tile.row0 + r0 + gq + 8 * h) * a.q_stride + qh * HD + tq * 2;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc) {
        const float2 lo = *reinterpret_cast<const float2*>(src + kc * 16);
        const float2 hi = *reinterpret_cast<const float2*>(src + kc * 16 + 8);
        qa[kc][h] = tc::pack_bf16(lo.x, lo.y);
        qa[kc][2 + h] = tc::pack_bf16(hi.x, hi.y);
      }
    }
  }

  float o[DT][4];
#pragma unroll
  for (int d = 0; d < DT; ++d)
#pragma unroll
    for (int i = 0; i < 4; ++i) o[d][i] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const float c = a.scale * 1.4426950408889634f;  // softmax in base 2: exp(x) = exp2(x log2 e)

  const int32_t* brow = kv.block_tables + static_cast<int64_t>(a.slots[tile.row0]) * kv.max_blocks;
  const int nkeys = tile.max_pos + 1;
  const int kbeg = a.window > 0 ? max(0, tile.min_pos - a.window + 1) / KN * KN : 0;
  const int nstages = (nkeys - kbeg + KN - 1) / KN;

  // Keys at or past nkeys are zero-filled, never addressed: their block-table entry may be
  // unassigned or past the row's end, and a stale NaN there would survive P = 0 in P V.
  auto load_stage = [&](int buf, int k0) {
    bf16* ks = kv_s[buf][0];
    bf16* vs = kv_s[buf][1];
    for (int idx = tid; idx < KN * CPR; idx += blockDim.x) {
      const int kr = idx / CPR, cc = (idx % CPR) * 8, p = k0 + kr;
      if (p < nkeys) {
        const int64_t off = kv_offset(kv, brow, p, kvh) + cc;
        tc::cp_async16(ks + kr * LD + cc, k_pool + off);
        tc::cp_async16(vs + kr * LD + cc, v_pool + off);
      } else {
        *reinterpret_cast<uint4*>(ks + kr * LD + cc) = make_uint4(0u, 0u, 0u, 0u);
        *reinterpret_cast<uint4*>(vs + kr * LD + cc) = make_uint4(0u, 0u, 0u, 0u);
      }
    }
  };

  load_stage(0, kbeg);
  tc::cp_async_commit();
  for (int it = 0; it < nstages; ++it) {
    const int k0 = kbeg + it * KN;
    // The buffer refilled here was last read in iteration it - 1, which ended in a barrier.
    if (it + 1 < nstages) {
      load_stage((it + 1) & 1, k0 + KN);
      tc::cp_async_commit();
      tc::cp_async_wait<1>();
    } else {
      tc::cp_async_wait<0>();
    }
    __syncthreads();  // stage it landed for every thread's copies

    if (active && k0 <= w_hi && k0 + KN - 1 >= w_lo) {
      const bf16* ks = kv_s[it & 1][0];
      const bf16* vs = kv_s[it & 1][1];

      // S = Q K^T. One ldmatrix.x4 gives the two k8 halves of two key octets:
      // matrix j = lane / 8 holds keys 8 * (j / 2) + (lane % 8), dims 8 * (j % 2).
      float s[NT][4];
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) s[n][i] = 0.f;
#pragma unroll
      for (int kc = 0; kc < KC; ++kc)
#pragma unroll
        for (int n = 0; n < NT; n += 2) {
          uint32_t b[4];
          tc::ldmatrix_x4(b, ks + (n * 8 + (lane >> 4) * 8 + (lane & 7)) * LD + kc * 16 + ((lane >> 3) & 1) * 8);
          tc::mma_bf16(s[n], qa[kc], b[0], b[1]);
          tc::mma_bf16(s[n + 1], qa[kc], b[2], b[3]);
        }

      // Online softmax over this stage; s[n][i] sits at row gq + 8 * (i / 2), key
      // k0 + 8 n + 2 tq + (i % 2). A quad (4 lanes of one gq) holds a row between them.
      const bool need_mask = !(k0 + KN - 1 <= w_qp_min && k0 >= w_lo_max);
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          float x = s[n][i] * c;
          if (need_mask) {
            const int kp = k0 + n * 8 + tq * 2 + (i & 1);
            if (kp > qp[i >> 1] || kp < qlo[i >> 1]) x = -INFINITY;
          }
          s[n][i] = x;
          mx[i >> 1] = fmaxf(mx[i >> 1], x);
        }
      float corr[2], base[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
        mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
        const float m_new = fmaxf(m[h], mx[h]);
        // A row with no visible key yet keeps m = -inf; subtracting 0 instead keeps every
        // exponent -inf (weight 0) rather than NaN.
        base[h] = m_new == -INFINITY ? 0.f : m_new;
        corr[h] = exp2f(m[h] - base[h]);
        m[h] = m_new;
        l[h] *= corr[h];
      }
#pragma unroll
      for (int d = 0; d < DT; ++d) {
        o[d][0] *= corr[0]; o[d][1] *= corr[0];
        o[d][2] *= corr[1]; o[d][3] *= corr[1];
      }

      // O += P V, 16 keys at a time. P's A fragment for keys 16 kk.. is the S accumulators of
      // octets 2 kk and 2 kk + 1. For V (k = key, n = dim) ldmatrix.trans matrix j holds keys
      // 8 * (j % 2) + (lane % 8), dims 8 * (j / 2) of a dim-octet pair.
#pragma unroll
      for (int kk = 0; kk < KN / 16; ++kk) {
        uint32_t pa[4];
#pragma unroll
        for (int hf = 0; hf < 2; ++hf) {
          const int n = 2 * kk + hf;
          const uint32_t lo = tc::pack_bf16(exp2f(s[n][0] - base[0]), exp2f(s[n][1] - base[0]));
          const uint32_t hi = tc::pack_bf16(exp2f(s[n][2] - base[1]), exp2f(s[n][3] - base[1]));
          pa[2 * hf] = lo;
          pa[2 * hf + 1] = hi;
          // The sum takes the weights as rounded, the ones P V multiplies (a BF16 is the top
          // half of an F32).
          l[0] += __uint_as_float(lo << 16) + __uint_as_float(lo & 0xffff0000u);
          l[1] += __uint_as_float(hi << 16) + __uint_as_float(hi & 0xffff0000u);
        }
#pragma unroll
        for (int d = 0; d < DT; d += 2) {
          uint32_t b[4];
          tc::ldmatrix_x4_trans(b, vs + (kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * LD + d * 8 + (lane >> 4) * 8);
          tc::mma_bf16(o[d], pa, b[0], b[1]);
          tc::mma_bf16(o[d + 1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }

  if (!active) return;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
  }
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    if (!rv[h]) continue;
    // A valid row always sees its own position, so l > 0.
    const float inv = 1.f / l[h];
    OT* dst = static_cast<OT*>(a.out) +
              (static_cast<int64_t>(tile.row0 + r0 + gq + 8 * h) * a.num_q_heads + qh) * HD + tq * 2;
#pragma unroll
    for (int d = 0; d < DT; ++d) tc::store2<OT>(dst + d * 8, o[d][2 * h] * inv, o[d][2 * h + 1] * inv);
  }
}

template <typename OT, int HD>
static cudaError_t prefill_tc_hd(const AttentionArgs& a, const KvView& kv, const bf16* k_pool,
                                 const bf16* v_pool, const PrefillTile* tiles, int num_tiles,
                                 cudaStream_t stream) {
  using S = TcShape<HD>;
  const int group = a.num_q_heads / kv.num_kv_heads;
  // Fewest blocks per GQA group, heads spread evenly over them (group 6 at most 4 a block: 3 + 3).
  const int chunks = ceil_div(group, S::MAX_HPB);
  const int hpb = ceil_div(group, chunks);
  const dim3 grid(num_tiles, kv.num_kv_heads * chunks);
  const dim3 block(S::R * hpb / 16 * 32);
  return launch_k(attention_prefill_tc_kernel<OT, HD>, grid, block, 0, stream, a, kv, k_pool,
                  v_pool, tiles, num_tiles, hpb, chunks);
}

template <typename KT, typename OT>
cudaError_t launch_attention_prefill(const AttentionArgs& a, const KvView& kv, const KT* k_pool,
                                     const KT* v_pool, const PrefillTile* tiles, int num_tiles,
                                     cudaStream_t stream) {
  if (num_tiles <= 0) return cudaSuccess;
  if constexpr (std::is_same_v<KT, bf16>) {
    if (experimental_kernels()) {
      switch (kv.head_dim) {
        case 16: return prefill_tc_hd<OT, 16>(a, kv, k_pool, v_pool, tiles, num_tiles, stream);
        case 32: return prefill_tc_hd<OT, 32>(a, kv, k_pool, v_pool, tiles, num_tiles, stream);
        case 64: return prefill_tc_hd<OT, 64>(a, kv, k_pool, v_pool, tiles, num_tiles, stream);
        case 128: return prefill_tc_hd<OT, 128>(a, kv, k_pool, v_pool, tiles, num_tiles, stream);
        default: break;  // the CUDA-core kernel below answers for any other size
      }
    }
  }
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
