#include "rope.cuh"

namespace inferkit {
namespace cuda {

// One block per token, one warp per head; each lane owns the pairs (i, i + d/2), i = lane + 32j.
template <typename KT>
__global__ void rope_kv_write_kernel(RopeArgs a, KvView kv, KT* __restrict__ k_pool,
                                     KT* __restrict__ v_pool) {
  pdl_wait();
  pdl_trigger();
  const int t = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int hd = kv.head_dim, half = hd / 2;
  const int nq = a.num_q_heads, nkv = kv.num_kv_heads;
  const int total_heads = nq + 2 * nkv;
  const int pos = a.positions[t];
  const int32_t* row = kv.block_tables + static_cast<int64_t>(a.slots[t]) * kv.max_blocks;
  float* base = a.qkv + static_cast<int64_t>(t) * total_heads * hd;

  for (int h = warp; h < total_heads; h += blockDim.x >> 5) {
    float* x = base + static_cast<int64_t>(h) * hd;
    if (h >= nq + nkv) {  // value head: copy into the cache unchanged
      const int vh = h - nq - nkv;
      KT* dst = v_pool + kv_offset(kv, row, pos, vh);
      for (int i = lane; i < hd; i += 32) dst[i] = from_f32<KT>(x[i]);
      continue;
    }
    const bool is_q = h < nq;
    const float* nw = is_q ? a.q_norm : a.k_norm;
    float scale = 1.f;
    if (nw != nullptr) {
      float ss = 0.f;
      for (int i = lane; i < hd; i += 32) ss += x[i] * x[i];
      ss = warp_sum(ss);
      scale = rsqrtf(ss / static_cast<float>(hd) + a.norm_eps);
    }
    KT* dst = is_q ? nullptr : k_pool + kv_offset(kv, row, pos, h - nq);
    for (int i = lane; i < half; i += 32) {
      float x0 = x[i], x1 = x[i + half];
      if (nw != nullptr) {
        x0 = nw[i] * (x0 * scale);
        x1 = nw[i + half] * (x1 * scale);
      }
      const float c = a.cos_table[static_cast<int64_t>(pos) * half + i];
      const float s = a.sin_table[static_cast<int64_t>(pos) * half + i];
      const float r0 = x0 * c - x1 * s;
      const float r1 = x1 * c + x0 * s;
      if (is_q) {
        x[i] = r0;
        x[i + half] = r1;
      } else {
        dst[i] = from_f32<KT>(r0);
        dst[i + half] = from_f32<KT>(r1);
      }
    }
  }
}

template <typename KT>
cudaError_t launch_rope_kv_write(const RopeArgs& args, const KvView& kv, KT* k_pool, KT* v_pool,
                                 cudaStream_t stream) {
  if (args.num_tokens <= 0) return cudaSuccess;
  return launch_k(rope_kv_write_kernel<KT>, dim3(args.num_tokens), dim3(kRopeThreads), 0, stream, args,
                  kv, k_pool, v_pool);
}

template cudaError_t launch_rope_kv_write<float>(const RopeArgs&, const KvView&, float*, float*, cudaStream_t);
template cudaError_t launch_rope_kv_write<bf16>(const RopeArgs&, const KvView&, bf16*, bf16*, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
