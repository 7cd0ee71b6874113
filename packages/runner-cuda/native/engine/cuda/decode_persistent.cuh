// Persistent decode step: every layer of one decode step (and the final norm + lm_head) in a
// single cooperative launch, for 1 to kPersistentMaxRows tokens with 16-bit weights and the
// bf16 KV cache.
//
// Why: at batch 1 the step is a stream of ~2.5 GB of weights through ~116 small kernels; each
// kernel's start-up and tail leave HBM idle, so the layered path reached 38% of copy bandwidth
// on an H200. Here one block per SM stays resident for the whole step and the phases of a layer
// are separated by a grid-wide barrier. Between arriving at a barrier and waiting at it, every
// warp issues the 16-byte loads of its first unit of the next phase's weights (immutable, so
// they may be read early; before attention, the cached keys/values of earlier positions), so
// the memory system stays busy while the grid synchronises.
//
// Phases of a layer (each ends at a grid barrier):
//   1. RMSNorm(x) staged in shared memory, fused q|k|v matvec (+bias) -> qkv
//   2. attention, one unit per (token, kv head, context split): q/k norm + RoPE, the new key and
//      value written into the paged cache (by the unit whose split holds the new position),
//      split-K flash-decoding; the unit that finishes a (token, kv head) last merges its splits
//      (a counter per (token, kv head), so the merge needs no extra grid barrier) -> att
//   3. o_proj, residual added into x
//   4. RMSNorm(x), gate|up as row pairs (gate row n, up row n), SiLU(gate) * up -> act
//   5. down_proj, residual added into x
// then RMSNorm of the output rows and lm_head -> logits (the buffer the sampler reads).
//
// Arithmetic follows the layered kernels (rmsnorm.cu, rope.cu, attention.cu, matvec.cu):
// (x * inv) * w for norms, the same RoPE and q/k-norm expressions, bf16 rounding of cached keys
// and values, f32 accumulation; only summation orders differ.
#pragma once

#include <cstddef>

#include "kv_cache.cuh"

namespace inferkit {
namespace cuda {

constexpr int kPersistentThreads = 512;   // 16 warps, one block per SM
constexpr int kPersistentMaxRows = 4;     // the activations of 4 rows of the widest input fit in shared memory

// One layer's device pointers (the backend's DevLayer, in a device array).
struct PersistentLayer {
  const void* qkv;            // [q_dim + 2 kv_dim, hidden]
  const float* qkv_bias;      // or null
  const void* o;              // [hidden, q_dim]
  const float* o_bias;
  const void* gate_up;        // [2 inter, hidden]: gate rows, then up rows
  const float* gate_up_bias;
  const void* down;           // [hidden, inter]
  const float* down_bias;
  const float* attn_norm;     // [hidden]
  const float* ffn_norm;      // [hidden]
  const float* q_norm;        // [head_dim] or null
  const float* k_norm;        // [head_dim] or null
};

// Zero-initialised once. Arrivals only ever add to count (64 bits: no wrap in practice), and
// every launch adds grid x (barriers per step), so count is a multiple of the grid size at
// every launch's start and needs no reset between steps (or graph replays).
struct GridBarrierState {
  unsigned long long count;
};

struct PersistentDecodeArgs {
  // Model
  const PersistentLayer* layers;  // [num_layers], device memory
  int num_layers;
  const void* embed;              // [vocab, hidden] of the weight type
  const void* lm_head;            // [vocab, hidden]
  const float* final_norm;
  int hidden, inter, num_q_heads, num_kv_heads, head_dim, vocab;
  float eps;
  float attn_scale;               // head_dim^-0.5
  int window;                     // > 0: sliding-window attention
  const float* cos_table;         // [max_seq_len, head_dim / 2]
  const float* sin_table;
  // KV cache (bf16 pools, per-layer stride layer_pool_elems)
  KvView kv;
  bf16* k_pool;
  bf16* v_pool;
  int64_t layer_pool_elems;
  // Step
  const int32_t* tokens;          // [rows]
  const int32_t* positions;       // [rows]
  const int32_t* slots;           // [rows]
  int rows;                       // 1..kPersistentMaxRows, one token per sequence
  const int32_t* logit_rows;      // [num_logit_rows] rows of x whose logits are wanted
  int num_logit_rows;             // 0: no lm_head
  // Buffers
  float* x;                       // residual stream [rows, hidden]
  float* qkv;                     // [rows, q_dim + 2 kv_dim]
  float* att;                     // [rows, q_dim]
  float* act;                     // [rows, inter]
  float* logits;                  // [num_logit_rows, vocab]
  float* part_o;                  // [kPersistentMaxRows, num_q_heads, max_splits, head_dim]
  float* part_ml;                 // [kPersistentMaxRows, num_q_heads, max_splits, 2]
  unsigned int* merge_counters;   // [kPersistentMaxRows, num_kv_heads], zero-initialised
  GridBarrierState* barrier;      // zero-initialised
  int max_splits;                 // from the plan
  int max_split_len;
  int kmax;                       // max(hidden, q_dim, inter): shared-memory row stride bound
};

struct PersistentDecodeShape {
  int hidden, inter, num_q_heads, num_kv_heads, head_dim, vocab, max_seq_len;
};

struct PersistentDecodePlan {
  int grid = 0;                  // blocks; 0: the kernel cannot run on this device/shape
  int max_split_len = 0;         // longest attention split (a multiple of kKvBlockTokens)
  int max_splits = 0;            // most splits per (token, kv head)
  size_t smem[kPersistentMaxRows + 1] = {};  // dynamic shared memory per row count; 0: too big
  int kmax = 0;
};

// Checks the device and shape, sets the kernels' shared-memory limits and fills *plan. Returns
// cudaSuccess with plan->grid == 0 and *why set when the kernel cannot be used (the caller then
// keeps the layered path); a CUDA error only for a failed runtime call.
template <typename WT>
cudaError_t plan_persistent_decode(const PersistentDecodeShape& shape, int device,
                                   PersistentDecodePlan* plan, const char** why);

// Floats of part_o + part_ml the plan needs.
size_t persistent_decode_workspace_floats(const PersistentDecodeShape& shape,
                                          const PersistentDecodePlan& plan);

// One decode step (args.rows tokens). Cooperative launch of plan.grid blocks on `stream`.
template <typename WT>
cudaError_t launch_persistent_decode(const PersistentDecodeArgs& args,
                                     const PersistentDecodePlan& plan, cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
