// Paged KV cache addressing shared by the RoPE/KV-write and attention kernels.
//
// Each layer has a K pool and a V pool of fixed-size blocks; one block holds kKvBlockTokens
// consecutive positions of one sequence for every KV head, laid out [kv_head][token][head_dim]
// so that one head's keys for a block are one contiguous run (what the attention kernels read).
// A sequence slot owns a row of the block table: block_tables[slot * max_blocks + i] is the pool
// block holding positions [i * kKvBlockTokens, (i + 1) * kKvBlockTokens).
#pragma once

#include "cuda_common.cuh"

namespace inferkit {
namespace cuda {

constexpr int kKvBlockTokens = 16;

struct KvView {
  const int32_t* block_tables;  // [slots, max_blocks]
  int max_blocks;               // block-table row length
  int num_kv_heads;
  int head_dim;
};

// Element offset of (position, kv head, dim 0) for the sequence whose block-table row is `row`.
__device__ __forceinline__ int64_t kv_offset(const KvView& kv, const int32_t* row, int pos, int head) {
  const int64_t blk = row[pos / kKvBlockTokens];
  return ((blk * kv.num_kv_heads + head) * kKvBlockTokens + (pos % kKvBlockTokens)) *
         static_cast<int64_t>(kv.head_dim);
}

}  // namespace cuda
}  // namespace inferkit
