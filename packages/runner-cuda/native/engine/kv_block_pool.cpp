#include "kv_block_pool.h"

#include <algorithm>
#include <cstring>

#include "sampling.h"  // rng_mix64

namespace inferkit {

void KvBlockPool::reset(int num_blocks, int max_slots, int blocks_per_seq, bool prefix_cache) {
  blocks_.assign(static_cast<size_t>(num_blocks), Block());
  free_.clear();
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
  tables_.assign(static_cast<size_t>(max_slots) * blocks_per_seq, -1);
  chains_.assign(static_cast<size_t>(max_slots), Chain());
  index_.clear();
  index_.reserve(static_cast<size_t>(num_blocks));
  lru_head_ = lru_tail_ = -1;
  blocks_per_seq_ = blocks_per_seq;
  max_slots_ = max_slots;
  prefix_cache_ = prefix_cache;
  cached_ = in_use_ = 0;
  evictions_ = 0;
}

uint64_t KvBlockPool::block_key(uint64_t parent_key, const int32_t* tokens) {
  uint64_t h = rng_mix64(parent_key);
  for (int i = 0; i < kKvBlockTokens; ++i) h = rng_mix64(h ^ static_cast<uint32_t>(tokens[i]));
  return h;
}

int32_t KvBlockPool::find(uint64_t key, const int32_t* tokens, int32_t parent,
                          uint32_t parent_gen) const {
  auto it = index_.find(key);
  if (it == index_.end()) return -1;
  const Block& b = blocks_[it->second];
  if (b.parent != parent || (parent >= 0 && b.parent_gen != parent_gen)) return -1;
  if (std::memcmp(b.tokens, tokens, sizeof(b.tokens)) != 0) return -1;
  return it->second;
}

int KvBlockPool::attach_prefix(int slot, const int32_t* tokens, int n) {
  Chain& c = chains_[slot];
  c = Chain();
  if (!prefix_cache_) return 0;
  int32_t* row = tables_.data() + static_cast<size_t>(slot) * blocks_per_seq_;
  const int whole = std::min((n - 1) / kKvBlockTokens, blocks_per_seq_);
  for (int i = 0; i < whole; ++i) {
    const int32_t* t = tokens + static_cast<size_t>(i) * kKvBlockTokens;
    const uint64_t key = block_key(c.key, t);
    const int32_t b = find(key, t, c.last, c.last_gen);
    if (b < 0) break;
    Block& blk = blocks_[b];
    if (blk.refs == 0) {
      lru_remove(b);
      --cached_;
      ++in_use_;
    }
    blk.refs += 1;
    row[i] = b;
    c.blocks = i + 1;
    c.last = b;
    c.last_gen = blk.gen;
    c.key = key;
  }
  return c.blocks * kKvBlockTokens;
}

int32_t KvBlockPool::take_block() {
  int32_t b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (lru_head_ >= 0) {
    b = lru_head_;
    uncache(b);
    free_.pop_back();
    ++evictions_;
  } else {
    return -1;
  }
  Block& blk = blocks_[b];
  blk.refs = 1;
  blk.parent = -1;
  ++in_use_;
  return b;
}

bool KvBlockPool::reserve(int slot, int end) {
  int32_t* row = tables_.data() + static_cast<size_t>(slot) * blocks_per_seq_;
  const int need = std::min((end + kKvBlockTokens - 1) / kKvBlockTokens, blocks_per_seq_);
  for (int i = 0; i < need; ++i) {
    if (row[i] >= 0) continue;
    const int32_t b = take_block();
    if (b < 0) return false;
    row[i] = b;
  }
  return true;
}

void KvBlockPool::uncache(int32_t b) {
  Block& blk = blocks_[b];
  auto it = index_.find(blk.key);
  if (it != index_.end() && it->second == b) index_.erase(it);
  blk.cached = false;
  blk.gen += 1;  // children published under this content stop matching
  if (blk.refs == 0) {
    lru_remove(b);
    --cached_;
    free_.push_back(b);
  }
}

bool KvBlockPool::parent_valid(const Block& b) const {
  if (b.parent < 0) return true;
  const Block& p = blocks_[b.parent];
  return p.cached && p.gen == b.parent_gen;
}

void KvBlockPool::publish(int slot, const int32_t* tokens, int computed) {
  if (!prefix_cache_) return;
  Chain& c = chains_[slot];
  if (c.broken) return;
  const int32_t* row = tables_.data() + static_cast<size_t>(slot) * blocks_per_seq_;
  const int full = std::min(computed / kKvBlockTokens, blocks_per_seq_);
  for (int i = c.blocks; i < full; ++i) {
    const int32_t* t = tokens + static_cast<size_t>(i) * kKvBlockTokens;
    const uint64_t key = block_key(c.key, t);
    int32_t canonical = find(key, t, c.last, c.last_gen);
    if (canonical < 0) {
      auto it = index_.find(key);
      if (it != index_.end()) {
        // A block whose parent was evicted since is unreachable: this one replaces it. Any
        // other block under this key is a 64-bit collision with other tokens: the first keeps
        // the key and this sequence's later blocks are not shared.
        if (parent_valid(blocks_[it->second])) {
          c.broken = true;
          return;
        }
        uncache(it->second);
      }
      canonical = row[i];
      Block& blk = blocks_[canonical];
      blk.cached = true;
      blk.key = key;
      blk.parent = c.last;
      blk.parent_gen = c.last_gen;
      std::memcpy(blk.tokens, t, sizeof(blk.tokens));
      index_.emplace(key, canonical);
    }
    // Else an equal block was published first (two sequences computed the same prefix at once):
    // the chain goes on from that one, and this sequence's copy is freed on release.
    c.blocks = i + 1;
    c.last = canonical;
    c.last_gen = blocks_[canonical].gen;
    c.key = key;
  }
}

void KvBlockPool::release(int slot) {
  int32_t* row = tables_.data() + static_cast<size_t>(slot) * blocks_per_seq_;
  for (int i = blocks_per_seq_ - 1; i >= 0; --i) {
    const int32_t b = row[i];
    if (b < 0) continue;
    row[i] = -1;
    Block& blk = blocks_[b];
    if (--blk.refs > 0) continue;
    --in_use_;
    if (blk.cached) {
      lru_push_back(b);
      ++cached_;
    } else {
      free_.push_back(b);
    }
  }
  chains_[slot] = Chain();
}

void KvBlockPool::lru_push_back(int32_t b) {
  Block& blk = blocks_[b];
  blk.lru_prev = lru_tail_;
  blk.lru_next = -1;
  if (lru_tail_ >= 0) blocks_[lru_tail_].lru_next = b;
  else lru_head_ = b;
  lru_tail_ = b;
}

void KvBlockPool::lru_remove(int32_t b) {
  Block& blk = blocks_[b];
  if (blk.lru_prev >= 0) blocks_[blk.lru_prev].lru_next = blk.lru_next;
  else lru_head_ = blk.lru_next;
  if (blk.lru_next >= 0) blocks_[blk.lru_next].lru_prev = blk.lru_prev;
  else lru_tail_ = blk.lru_prev;
  blk.lru_prev = blk.lru_next = -1;
}

KvBlockPool::Stats KvBlockPool::stats() const {
  Stats s;
  s.blocks = static_cast<int>(blocks_.size());
  s.in_use = in_use_;
  s.cached = cached_;
  s.free = s.blocks - in_use_ - cached_;
  s.evictions = evictions_;
  return s;
}

}  // namespace inferkit
