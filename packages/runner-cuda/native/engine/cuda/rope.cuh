// Rotary position embedding with optional per-head q/k RMSNorm (Qwen3), fused with the write
// of the new keys and values into the paged KV cache.
//
// Convention: Hugging Face's rotate_half, i.e. dimension i is paired with i + head_dim/2:
//   out[i]        = x[i] * cos(p * f_i) - x[i + d/2] * sin(p * f_i)
//   out[i + d/2]  = x[i + d/2] * cos(p * f_i) + x[i] * sin(p * f_i)
// cos/sin come as tables [max_seq_len, head_dim/2] computed on the host exactly as the CPU
// backend computes them (f32 angle p * f_i with any rope_scaling applied to f_i, then cos/sin
// in double), so both backends rotate by bit-identical factors and one kernel serves every
// scaling type.
#pragma once

#include "kv_cache.cuh"

namespace inferkit {
namespace cuda {

constexpr int kRopeThreads = 128;

struct RopeArgs {
  float* qkv;                 // [tokens, (nq + 2*nkv) * head_dim], q heads, then k, then v
  const int32_t* positions;   // [tokens]
  const int32_t* slots;       // [tokens] block-table row of each token's sequence
  const float* q_norm;        // [head_dim] or nullptr
  const float* k_norm;        // [head_dim] or nullptr
  const float* cos_table;     // [max_seq_len, head_dim / 2]
  const float* sin_table;
  float norm_eps;
  int num_tokens;
  int num_q_heads;
};

// Rotates q in place (it stays in qkv) and stores rotated k and raw v into the cache pools.
template <typename KT>
cudaError_t launch_rope_kv_write(const RopeArgs& args, const KvView& kv, KT* k_pool, KT* v_pool,
                                 cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
