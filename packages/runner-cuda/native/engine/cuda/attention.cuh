// Causal self-attention over the paged KV cache, GQA aware (q head h reads kv head h / group).
//
// Decode (one new token per sequence): flash-decoding. The context is cut into splits; one
// block per (kv head, token, split) scores every q head of its group against the split's keys,
// so each key and value vector is read once per group rather than once per q head. A second
// kernel merges the splits with their log-sum-exp weights.
//
// Prefill (many new tokens per sequence): tiled online softmax. A block takes a tile of query
// rows of one q head, walks the keys in tiles of kPrefillKeyTile staged through shared memory,
// and keeps a running max, sum and output per row, so the score matrix is never materialised.
// With a BF16 cache and INFERKIT_CUDA_EXPERIMENTAL=1 (cuda::experimental_kernels()) the same
// tiles go to a tensor-core kernel instead (flash-attention-2 with mma.sync: every q head of a
// GQA group in one block sharing the staged K/V, q and the softmax weights rounded to BF16);
// an F32 cache, or that switch off, keeps the CUDA-core kernel.
#pragma once

#include "kv_cache.cuh"

namespace inferkit {
namespace cuda {

constexpr int kAttentionThreads = 128;
constexpr int kPrefillKeyTile = 32;

// True when the kernels are instantiated for this head size.
bool attention_supports_head_dim(int head_dim);

struct AttentionArgs {
  const float* q;             // [tokens, q_stride]; q head h at q + h * head_dim (RoPE applied)
  int q_stride;
  const int32_t* positions;   // [tokens]
  const int32_t* slots;       // [tokens]
  int num_tokens;
  int num_q_heads;
  float scale;                // softmax scale, head_dim^-0.5
  int window;                 // > 0: a token at p sees positions [p - window + 1, p] only
  void* out;                  // [tokens, num_q_heads * head_dim] of OT
};

// Workspace the decode path needs for up to num_tokens rows with contexts up to max_ctx.
size_t attention_decode_workspace_bytes(int num_tokens, int num_q_heads, int head_dim,
                                        int max_ctx, int group);

// Chooses the split length for a batch whose longest context is max_ctx (a multiple of
// kKvBlockTokens, so splits never straddle a cache block).
int attention_decode_split_len(int num_tokens, int num_kv_heads, int max_ctx, int group);

// Every token attends to positions [0, positions[t]] of its own sequence (or the window).
template <typename KT, typename OT>
cudaError_t launch_attention_decode(const AttentionArgs& args, const KvView& kv, const KT* k_pool,
                                    const KT* v_pool, int max_ctx, void* workspace,
                                    cudaStream_t stream);

// One tile = up to prefill_tile_rows(head_dim) consecutive rows of one sequence.
struct PrefillTile {
  int row0;     // first token row in the batch
  int nrows;
  int min_pos;  // smallest position among the tile's rows
  int max_pos;  // largest position among the tile's rows (keys [0, max_pos] are read)
};
int prefill_tile_rows(int head_dim);

template <typename KT, typename OT>
cudaError_t launch_attention_prefill(const AttentionArgs& args, const KvView& kv, const KT* k_pool,
                                     const KT* v_pool, const PrefillTile* tiles, int num_tiles,
                                     cudaStream_t stream);

}  // namespace cuda
}  // namespace inferkit
