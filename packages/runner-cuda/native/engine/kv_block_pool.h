// KvBlockPool: the engine's side of the paged KV cache, the same for every backend. The cache is
// a pool of blocks of kKvBlockTokens positions (backend.h); each sequence slot has a block table
// row (what StepBatch::block_tables points at) naming the block that holds each run of 16 of its
// positions.
//
// Prefix cache: a block whose 16 positions are all computed is published under a key that hashes
// its tokens and everything before them (the key of the block before it). A new sequence whose
// prompt starts with the same tokens takes those blocks into its own table instead of computing
// them again: shared read-only, reference-counted. Only full blocks are shared, so a sequence
// never writes into a block another one reads (no copy-on-write). At least the prompt's last
// token is always computed, since its logits give the first output token.
//
// A hit is exact, not just a hash match: the candidate's tokens are compared, and so is its
// parent, by block id and by the generation the parent had when the child was published (a
// block's generation changes whenever it is reused), so by induction every position of the chain
// holds the K/V of exactly these tokens at exactly these positions.
//
// Eviction: blocks no sequence holds stay cached, in least-recently-released order; a sequence
// that needs a block takes a free one first, else evicts the oldest cached one. A sequence
// releases its blocks last to first, so the deep end of a chain goes before its shared start.
// With num_blocks >= max_slots * blocks_per_seq, reserve() never fails for a running sequence:
// the blocks the running sequences hold never exceed that, and every other block is free or
// evictable.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "backend.h"

namespace inferkit {

class KvBlockPool {
 public:
  struct Stats {
    int blocks = 0;          // the pool
    int in_use = 0;          // held by at least one sequence
    int cached = 0;          // held by none, kept for prefix hits (evictable)
    int free = 0;            // neither
    uint64_t evictions = 0;  // cached blocks taken for new content
  };

  // Empties the pool: num_blocks blocks (>= max_slots * blocks_per_seq), every table row
  // unassigned. prefix_cache false: nothing is ever published, so attach_prefix() finds nothing.
  void reset(int num_blocks, int max_slots, int blocks_per_seq, bool prefix_cache);

  // [max_slots][blocks_per_seq] block ids, -1 where unassigned.
  const int32_t* tables() const { return tables_.data(); }
  int blocks_per_seq() const { return blocks_per_seq_; }
  bool prefix_cache() const { return prefix_cache_; }

  // Puts into the (empty) row of `slot` the cached blocks that hold the longest run of whole
  // blocks at the start of tokens[0, n - 1) (the last token is always left to compute). Returns
  // how many tokens they hold, a multiple of kKvBlockTokens.
  int attach_prefix(int slot, const int32_t* tokens, int n);

  // Gives `slot` a block for every position below `end`. False when no block is free or
  // evictable (only possible with a pool below max_slots * blocks_per_seq).
  bool reserve(int slot, int end);

  // Publishes the blocks of `slot` that positions [0, computed) fill completely; tokens[p] is the
  // token at position p. Blocks published earlier are skipped.
  void publish(int slot, const int32_t* tokens, int computed);

  // Drops the slot's hold on its blocks and empties its row.
  void release(int slot);

  Stats stats() const;

 private:
  struct Block {
    int32_t refs = 0;
    bool cached = false;   // published: in index_
    uint32_t gen = 0;      // bumped each time the block gets new content
    uint64_t key = 0;
    int32_t parent = -1;   // the block holding the previous 16 positions when published
    uint32_t parent_gen = 0;
    int32_t lru_prev = -1, lru_next = -1;  // while cached with refs == 0
    int32_t tokens[kKvBlockTokens] = {};
  };
  // Where a slot's chain of published blocks stands: the block that holds its positions up to
  // `blocks` * 16 (its own, or an equal one published first by another sequence) and its key.
  static constexpr uint64_t kRootKey = 0x6b76626c6f636b73ull;  // the parent key of block 0
  struct Chain {
    int blocks = 0;        // leading blocks of the slot known to be in the cache
    bool broken = false;   // a block could not be published (hash collision): stop
    int32_t last = -1;
    uint32_t last_gen = 0;
    uint64_t key = kRootKey;
  };

  static uint64_t block_key(uint64_t parent_key, const int32_t* tokens);
  // The cached block under `key` holding `tokens` after (parent, parent_gen), or -1.
  int32_t find(uint64_t key, const int32_t* tokens, int32_t parent, uint32_t parent_gen) const;
  int32_t take_block();  // a free block, else the oldest cached one evicted; -1 if none
  // Takes a published block out of the cache (its children stop matching): free when no
  // sequence holds it, else freed on release.
  void uncache(int32_t b);
  // Whether a published block's parent still holds what it held when the block was published.
  bool parent_valid(const Block& b) const;
  void lru_push_back(int32_t b);
  void lru_remove(int32_t b);

  std::vector<Block> blocks_;
  std::vector<int32_t> free_;
  std::vector<int32_t> tables_;
  std::vector<Chain> chains_;
  std::unordered_map<uint64_t, int32_t> index_;
  int32_t lru_head_ = -1, lru_tail_ = -1;
  int blocks_per_seq_ = 0;
  int max_slots_ = 0;
  bool prefix_cache_ = true;
  int cached_ = 0;
  int in_use_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace inferkit
